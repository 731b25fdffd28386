"""Opening runners from what the user names, foreign ONNX files included."""

import os

import cv2
import numpy as np
import onnx
import pytest

from conftest import CITYSCAPES_IMAGES, run_cli
from espnet_edge.errors import UserError
from espnet_edge.runtime.loader import open_runner, resolve_backend

FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000576_leftImg8bit.png")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    result = run_cli("export", "--model", "espnet-c-q3", "--size", "256x128", "--out", out)
    assert result.returncode == 0, result.stderr
    ours = out / "espnet-c-q3-256x128.onnx"
    model = onnx.load(str(ours))
    del model.metadata_props[:]
    foreign = out / "foreign.onnx"
    onnx.save(model, str(foreign))
    return ours, foreign


def test_backend_choice():
    assert resolve_backend("auto", onnx="a.onnx") == "onnxruntime"
    assert resolve_backend(None, engine="a.engine") == "tensorrt"
    assert resolve_backend("auto", model="espnet") == "onnxruntime"
    assert resolve_backend("torch", model="espnet") == "torch"
    assert resolve_backend("auto", model="espnet", onnx="a.onnx") == "onnxruntime"
    with pytest.raises(UserError, match="name one"):
        resolve_backend("auto", onnx="a.onnx", engine="b.engine")
    with pytest.raises(UserError):
        resolve_backend("auto")
    with pytest.raises(UserError, match="tensorrt backend"):
        resolve_backend("onnxruntime", engine="b.engine")


def test_foreign_onnx_says_what_is_missing(exported):
    _ours, foreign = exported
    with pytest.raises(UserError) as info:
        open_runner(onnx=str(foreign))
    assert "no espnet-edge metadata" in str(info.value) and "--model NAME" in str(info.value)


def test_foreign_onnx_runs_with_the_zoo_entry(exported, tmp_path):
    ours, foreign = exported
    masks = {}
    for label, path, extra in (("ours", ours, []), ("foreign", foreign, ["--model", "espnet-c-q3", "--size", "256x128"])):
        out = tmp_path / label
        result = run_cli("segment", "--onnx", path, *extra, "--out", out, FRAME)
        assert result.returncode == 0, result.stderr
        masks[label] = cv2.imread(str(out / "frankfurt_000000_000576_leftImg8bit.png"), cv2.IMREAD_UNCHANGED)
    assert masks["ours"].shape == (1024, 2048)
    assert np.array_equal(masks["ours"], masks["foreign"])
