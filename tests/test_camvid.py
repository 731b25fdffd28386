"""Issue 21's bars on real labelled data: espnet-q8-camvid on the whole CamVid test split (233 frames, ONNX
Runtime fp32 at 480x360). The standard metric (void ignored) gives mIoU 57.1-57.3 and class average
68.30 +- 0.02 (the authors' published class average); the authors' convention (void predicted as a class
counts against it) gives their published mIoU 55.64 +- 0.05. One pass gives both: eval keeps the
confusion matrix and the void predictions."""

import os

import pytest

from conftest import SHARED
from espnet_edge.apps import eval as evaluation
from espnet_edge.apps.datasets import label_space, open_dataset
from espnet_edge.zoo import get_model

CAMVID = os.path.join(SHARED, "datasets", "camvid")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def camvid_onnx():
    """espnet-q8-camvid at 480x360, exported once per test session (the session's export cache)."""
    from espnet_edge.host.export.pipeline import ensure_onnx

    return ensure_onnx(get_model("espnet-q8-camvid"))


@pytest.fixture(scope="module")
def whole_split(camvid_onnx):
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    dataset = open_dataset(CAMVID, "camvid", "test")
    assert len(dataset) == 233
    segmenter = Segmenter(open_runner(onnx=camvid_onnx, threads=1))
    try:
        return segmenter.info, dataset, evaluation.evaluate(segmenter, dataset, progress=False)
    finally:
        segmenter.close()


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
