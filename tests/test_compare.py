"""compare: the same network on torch and ONNX Runtime agrees; another checkpoint or a tight
tolerance fails (real weights, real images)."""

import json
import os

import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, run_main
from espnet_edge.apps.compare import check_tolerances, compare_runners
from espnet_edge.errors import UserError
from espnet_edge.images import read_image

pytestmark = pytest.mark.slow

MODEL = "espnet-c-q3"
SIZE = (512, 256)


@pytest.fixture(scope="module")
def onnx_file(export_once):
    return export_once(MODEL, SIZE)


@pytest.fixture(scope="module")
def frames():
    paths = [os.path.join(CITYSCAPES_IMAGES, n) for n in sorted(os.listdir(CITYSCAPES_IMAGES))]
    return [read_image(p) for p in paths + [os.path.join(PHOTOS, "sample2.jpg")]]


@pytest.fixture(scope="module")
def runners(onnx_file):
    from espnet_edge.backends import open_runner

    opened = [open_runner(backend="torch", model=MODEL, size=SIZE, threads=1),
              open_runner(backend="onnxruntime", onnx=onnx_file, threads=1),
              open_runner(backend="torch", model="espnet-c-q5", size=SIZE, threads=1)]
    yield opened
    for runner in opened:
        runner.close()


def test_torch_and_onnxruntime_agree(runners, frames):
    report = compare_runners(runners[:2], frames, labels=["torch", "ort"], progress=False)
    ref, ort = report["artifacts"]
    assert report["images"] == 3 and ref["reference"] and not ort["reference"]
    assert ort["backend"] == "onnxruntime" and ort["input_size"] == list(SIZE)
    assert 0.0 < ort["max_abs_logit_diff"] < 1e-3
    assert ort["mean_abs_logit_diff"] <= ort["max_abs_logit_diff"]
    assert ort["agreement"] >= 0.999 and ort["min_image_agreement"] >= 0.99
    assert ort["miou_vs_reference"] > 0.98
    assert check_tolerances(report) == [] and ort["ok"] and ort["logit_bound"] == 1e-3
    failures = check_tolerances(report, max_logit_diff=1e-9)  # tighter than fp32 kernels can agree
    assert len(failures) == 1 and "max |logit diff|" in failures[0] and not ort["ok"]


def test_another_checkpoint_fails(runners, frames):
    report = compare_runners([runners[0], runners[2]], frames, labels=["q3", "q5"], progress=False)
    other = report["artifacts"][1]
    assert other["agreement"] < 0.95 and other["max_abs_logit_diff"] > 0.1
    failures = check_tolerances(report)
    assert any("mask agreement" in f for f in failures)
    assert check_tolerances(report, min_agreement=0.0, max_logit_diff=100.0, min_miou=0.0) == []


def test_cli_pass_fail_and_json(tmp_path, onnx_file):
    images = str(tmp_path / "images")
    os.makedirs(images)
    for name in sorted(os.listdir(CITYSCAPES_IMAGES))[:1]:
        os.symlink(os.path.join(CITYSCAPES_IMAGES, name), os.path.join(images, name))
    out = tmp_path / "cmp.json"
    # the zoo model (on PyTorch) takes the ONNX file's input size (512x256) so the logits line up
    proc = run_main("compare", "torch:" + MODEL, onnx_file, "--images", images, "--threads", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "PASSED" in proc.stdout and "512x256" in proc.stdout
    data = json.loads(out.read_text())
    assert data["artifacts"][1]["agreement"] >= 0.999 and data["artifacts"][1]["ok"]

    proc = run_main("compare", "torch:" + MODEL, onnx_file, "--images", images, "--threads", "1",
                    "--max-logit-diff", "1e-9")
    assert proc.returncode == 1 and "FAILED" in proc.stdout and "max |logit diff|" in proc.stdout

    for args, message in ((("espnet-c-q3",), "at least two"),
                          (("torch:espnet-c-q3", "torch:espnetv2-s0.5-pascal-256"), "not the same network"),
                          ((str(tmp_path / "weights.pth"), onnx_file), "not an .onnx file or an engine"),
                          (("espnet-c-q3", str(tmp_path / "missing.onnx")), "does not exist"),
                          (("espnet-c-q3", onnx_file, "--min-agreement", "2"), "between 0 and 1")):
        proc = run_main("compare", *args, "--images", images, "--threads", "1")
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr


def test_fp16_onnx_against_fp32(tmp_path, onnx_file, frames):
    """An fp16 graph (helper to_fp16) on ONNX Runtime: masks agree, logits move more than fp32 allows."""
    import onnx

    from espnet_edge.host.export.fp16 import to_fp16
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.model_info import ModelInfo

    model = to_fp16(onnx.load(onnx_file))
    info = ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props})
    info.precision = "fp16"
    del model.metadata_props[:]
    for key, value in info.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    half = str(tmp_path / "half-fp16.onnx")
    onnx.save(model, half)
    runners = [open_runner(backend="onnxruntime", onnx=onnx_file, threads=1),
               open_runner(backend="onnxruntime", onnx=half, threads=1)]
    try:
        report = compare_runners(runners, frames[:2], progress=False)
    finally:
        for runner in runners:
            runner.close()
    entry = report["artifacts"][1]
    assert entry["precision"] == "fp16"
    assert 1e-3 < entry["max_abs_logit_diff"] < 1.0  # fp16 rounding, visible but small
    assert entry["agreement"] >= 0.99
    assert check_tolerances(report) == [] and entry["logit_bound"] is None  # no default bound for fp16
    assert any("max |logit diff|" in f for f in check_tolerances(report, max_logit_diff=1e-3))
