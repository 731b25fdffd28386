"""`espnet-edge build` and engine loading on bad input: one-line errors, non-zero exit, no traceback."""

import importlib.util
import os

import pytest

from conftest import PHOTOS, run_main
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.runtime.tensorrt import sidecar
from espnet_edge.runtime.tensorrt.build_options import BuildOptions
from espnet_edge.zoo import get_model

pytest.importorskip("torch")
from test_tensorrt_calibration import export_tiny_onnx  # noqa: E402

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    info = ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32))
    return export_tiny_onnx(str(tmp_path_factory.mktemp("cli") / "tiny-64x32.onnx"), info)


def _one_line_error(result, code=2):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("espnet-edge build: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_build_without_tensorrt_says_how_to_get_it(tiny_onnx):
    line = _one_line_error(run_main("build", tiny_onnx, "--fp16"), code=3)
    assert "TensorRT is not installed" in line and "Dockerfile.jetson" in line and "apt install" in line


def test_build_missing_file(tmp_path):
    line = _one_line_error(run_main("build", str(tmp_path / "nope.onnx")))
    assert "does not exist" in line and "espnet-edge export" in line


def test_build_int8_without_calibration_data(tiny_onnx):
    line = _one_line_error(run_main("build", tiny_onnx, "--int8"))
    assert "--calib DIR" in line and "tiny-64x32-int8.onnx" in line


def test_build_int8_with_missing_or_empty_calibration(tiny_onnx, tmp_path):
    line = _one_line_error(run_main("build", tiny_onnx, "--int8", "--calib", str(tmp_path / "frames")))
    assert "calibration folder" in line and "does not exist" in line
    line = _one_line_error(run_main("build", tiny_onnx, "--int8", "--calib", str(tmp_path)))
    assert "holds no images" in line
    line = _one_line_error(run_main("build", tiny_onnx, "--int8", "--calib-cache", str(tmp_path / "x.calib")))
    assert "calibration cache" in line


def test_build_calib_without_int8(tiny_onnx):
    line = _one_line_error(run_main("build", tiny_onnx, "--calib", PHOTOS))
    assert "--int8" in line


def test_build_bad_shapes_and_workspace(tiny_onnx):
    assert "NAME:DIMS" in _one_line_error(run_main("build", tiny_onnx, "--shapes", "1x3x32x64"))
    assert "--workspace" in _one_line_error(run_main("build", tiny_onnx, "--workspace", "0"))


def test_build_counts_checked_by_the_parser(tiny_onnx):
    # caught before any TensorRT import: a negative DLA core or image count is a one-line error naming the flag
    for flag, value in (("--dla", "-1"), ("--calib-images", "0"), ("--calib-images", "many"), ("--workspace", "-5")):
        line = _one_line_error(run_main("build", tiny_onnx, flag, value))
        assert flag in line, (flag, value, line)


def test_build_onnx_without_metadata(tmp_path):
    import onnx

    plain = str(tmp_path / "plain.onnx")
    model = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 4, 4])]))
    onnx.save(model, plain)
    line = _one_line_error(run_main("build", plain))
    assert "no espnet-edge metadata" in line


def _fake_built_engine(tmp_path):
    """An engine file plus the sidecar a build writes (the bytes are not a real engine: this tests the
    integrity check that runs before TensorRT is asked to deserialize anything)."""
    engine = str(tmp_path / "m-fp16.engine")
    data = os.urandom(4096)
    open(engine, "wb").write(data)
    info = ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32))
    inputs = sidecar.BuildInputs(str(tmp_path / "m.onnx"), "0" * 64, "fp16", {}, "8.2.1.8", "NVIDIA Tegra X2", "6.2",
                                 BuildOptions(fp16=True), None, False)
    meta = sidecar.make_sidecar(engine, data, inputs, 1.0, info)
    sidecar.write_sidecar(engine, meta)
    return engine, data


def test_truncated_engine_is_a_one_line_error(tmp_path):
    engine, data = _fake_built_engine(tmp_path)
    open(engine, "wb").write(data[:1000])
    line = _one_line_error(run_main("build", "--inspect", engine))
    assert "1000 bytes but was written as 4096 bytes" in line and "espnet-edge build" in line
    from espnet_edge.backends import open_runner

    with pytest.raises(UserError, match="truncated"):
        open_runner(engine=engine)


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_inspect_intact_engine_without_tensorrt(tmp_path):
    engine, _ = _fake_built_engine(tmp_path)
    result = run_main("build", "--inspect", engine)
    assert result.returncode == 0, result.stderr
    assert '"precision": "fp16"' in result.stdout and "TensorRT not installed here" in result.stdout


def test_engine_without_sidecar(tmp_path):
    engine = str(tmp_path / "bare.engine")
    open(engine, "wb").write(b"\x01" * 64)
    from espnet_edge.backends import open_runner

    with pytest.raises(UserError, match="has no sidecar"):
        open_runner(engine=engine)


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_available_gives_the_reason_without_tensorrt():
    from espnet_edge.runtime.tensorrt.builder import available

    ok, why = available()
    assert ok is False and "TensorRT is not installed" in why and "\n" not in why


@pytest.mark.skipif(importlib.util.find_spec("pycuda") is not None or importlib.util.find_spec("cuda") is not None,
                    reason="a CUDA Python binding is installed here")
def test_no_cuda_binding_is_a_missing_dependency():
    from espnet_edge.errors import MissingDependency
    from espnet_edge.runtime.tensorrt.cuda import open_cuda

    with pytest.raises(MissingDependency, match="pip3 install pycuda"):
        open_cuda()
