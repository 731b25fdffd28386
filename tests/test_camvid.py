"""Issue 21's bars on real labelled data: espnet-q8-camvid on the whole CamVid test split (233 frames, ONNX
Runtime fp32 at 480x360). The standard metric (void ignored) gives mIoU 57.1-57.3 and class average
68.30 +- 0.02 (the authors' published class average); the authors' convention (void predicted as a class
counts against it) gives their published mIoU 55.64 +- 0.05. One pass gives both: eval keeps the
confusion matrix and the void predictions. The frame graphs give the CPU path's mIoU, and INT8 calibrated
on CamVid train loses at most 0.5 points on the split. One file, so that the whole-split evaluation
(conftest.camvid_test_split) is made once even when the suite runs on several pytest-xdist workers."""

import os

import pytest

from conftest import SHARED
from espnet_edge.apps import eval as evaluation
from espnet_edge.apps.datasets import label_space

CAMVID = os.path.join(SHARED, "datasets", "camvid")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def whole_split(camvid_test_split):
    _onnx, info, dataset, result = camvid_test_split
    assert len(dataset) == 233
    return info, dataset, result


@pytest.fixture(scope="module")
def camvid_onnx(camvid_test_split):
    return camvid_test_split[0]


def test_standard_metric_on_the_whole_test_split(whole_split):
    _info, _dataset, result = whole_split
    assert result["images"] == 233 and result["convention"] == "standard"
    assert 0.571 <= result["miou"] <= 0.573
    assert result["class_average"] == pytest.approx(0.6830, abs=0.0002)


def test_the_authors_convention_reproduces_their_miou(whole_split):
    import numpy as np

    info, dataset, result = whole_split
    space = label_space(info)
    counted = evaluation.figures(np.array(result["confusion"]), space, np.array(result["void_predictions"]),
                                 count_void=True)
    assert counted["miou"] == pytest.approx(0.5564, abs=0.0005)
    assert counted["class_average"] == pytest.approx(result["class_average"], abs=1e-6)  # recall: void plays no part


def test_published_figures_printed_beside(whole_split):
    _info, _dataset, result = whole_split
    rows = {row["metric"]: row for row in result["published"]}
    assert rows["miou"]["convention"] == "void-counted" and rows["miou"]["whole_split"] is True
    assert abs(rows["miou"]["difference"]) < 0.0005 and abs(rows["class_average"]["difference"]) < 0.0002
    text = evaluation.format_report(result)
    assert "mIoU*" in text and "55.64%" in text and "68.30%" in text and "sacmehta/ESPNet README.md @ afe71c3" in text


def _every_tenth(dataset):
    """24 test frames spread over both sequences (the whole split for every graph is docs/accuracy.md's table)."""
    from espnet_edge.apps.datasets import Dataset

    return Dataset(dataset.format, dataset.root, dataset.samples[::10], dataset.split, dataset.ignore_index)


@pytest.mark.parametrize("options", [dict(frame_dtype="float32"),
                                     dict(frame_dtype="uint8", fuse_post=True, overlay_alpha=0.5, trt_version="10")],
                         ids=["pre-float32", "pre-post-overlay-uint8"])
def test_frame_graphs_give_the_cpu_paths_miou(whole_split, camvid_onnx, export_once, options):
    """Issue 21: the frame graphs (preprocessing, and ArgMax and overlay, inside the graph, fed the raw
    480x360 frame) give the CPU path's mIoU within 0.01 points on the same frames."""
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    _info, dataset, _result = whole_split
    frames = _every_tenth(dataset)
    figures = []
    for path in (camvid_onnx, export_once("espnet-q8-camvid", size=(480, 360), fuse_pre=True,
                                          input_size=(480, 360), **options)):
        segmenter = Segmenter(open_runner(onnx=path, threads=1))
        try:
            figures.append(evaluation.evaluate(segmenter, frames, progress=False))
        finally:
            segmenter.close()
    cpu, graph = figures
    assert graph["images"] == cpu["images"] == 24
    assert abs(graph["miou"] - cpu["miou"]) <= 0.0001 and abs(graph["class_average"] - cpu["class_average"]) <= 0.0001
    assert 0.45 < cpu["miou"] < 0.70  # a real segmentation, not two equally empty ones


def test_camvid_int8_within_half_a_point_of_fp32_on_the_whole_test_split(tmp_path, camvid_test_split):
    """The bar: `export --int8 --calib datasets/camvid/train` (the default choice of float Convs, no labels)
    loses at most 0.5 mIoU points on the 233 CamVid test frames, which the export never saw (fp32's
    figure: the session's whole-split evaluation, conftest.camvid_test_split)."""
    import shutil

    from espnet_edge.apps.eval import evaluate
    from espnet_edge.backends import open_runner
    from espnet_edge.host.export.variants import export_int8
    from espnet_edge.runtime.segmenter import Segmenter

    cached, _info, test, fp32 = camvid_test_split
    copy = str(tmp_path / os.path.basename(cached))   # the INT8 file is written beside its fp32 source
    shutil.copyfile(cached, copy)
    int8 = export_int8(copy, os.path.join(CAMVID, "train"))["onnx"]
    segmenter = Segmenter(open_runner(onnx=int8, threads=1))
    try:
        quantized = evaluate(segmenter, test, progress=False)
    finally:
        segmenter.close()
    assert len(test) == quantized["images"] == 233 and 0.571 <= fp32["miou"] <= 0.573  # eval's standard figure
    assert fp32["miou"] - quantized["miou"] <= 0.005
