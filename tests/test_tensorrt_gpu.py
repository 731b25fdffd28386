"""Real TensorRT engines: build from a tiny exported ONNX, run, compare with onnxruntime.

Needs TensorRT and an NVIDIA GPU; skipped with the reason otherwise (this repository's CI machine
has neither, so these have not been executed there: see docs/tensorrt.md)."""

import json
import os

import numpy as np
import pytest

from conftest import IMAGES
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.zoo import get_model

pytestmark = pytest.mark.gpu

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
from test_tensorrt_calibration import export_tiny_onnx  # noqa: E402


def _reason():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "TensorRT not installed"
    from espnet_edge.runtime.tensorrt.builder import available

    ok, why = available()
    return None if ok else why


REASON = _reason()
if REASON:
    pytest.skip(REASON, allow_module_level=True)

from espnet_edge.runtime.tensorrt import sidecar  # noqa: E402
from espnet_edge.runtime.tensorrt.builder import build_engine  # noqa: E402
from espnet_edge.runtime.tensorrt.compat import api_plan, short_version  # noqa: E402
from espnet_edge.runtime.tensorrt.runner import TensorRTRunner  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    info = ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32), batch=1)
    folder = tmp_path_factory.mktemp("trt")
    return export_tiny_onnx(str(folder / "tiny-64x32.onnx"), info), info


def _reference(path, batch):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": batch})[0]


def _real_batch(info):
    from espnet_edge.runtime.tensorrt.calibrator import calibration_files, prepare_batch

    return prepare_batch(calibration_files(IMAGES)[:1], info)


def test_fp32_engine_matches_onnxruntime(tiny):
    path, info = tiny
    engine = build_engine(path, reuse=False)
    batch = _real_batch(info)
    with TensorRTRunner.from_engine(engine) as runner:
        out = runner.infer(batch)
        again = runner.infer(batch)  # buffers reused across frames
        desc = runner.describe()
        assert all(ms >= 0 for ms in runner.timings) and runner.timings.host >= runner.timings.compute
    np.testing.assert_allclose(out, _reference(path, batch), atol=1e-4, rtol=1e-4)
    assert np.array_equal(out, again)
    import tensorrt

    assert desc["io_api"] == api_plan(tensorrt.__version__).io_api
    assert desc["precision"] == "fp32" and desc["tensorrt"]


def test_fp16_engine_close_to_onnxruntime_and_reused(tiny):
    path, info = tiny
    engine = build_engine(path, fp16=True, reuse=False)
    stamp = os.path.getmtime(engine)
    assert build_engine(path, fp16=True) == engine and os.path.getmtime(engine) == stamp
    batch = _real_batch(info)
    with TensorRTRunner.from_onnx(path, fp16=True) as runner:
        out = runner.infer(batch)
    np.testing.assert_allclose(out, _reference(path, batch), atol=2e-2, rtol=2e-2)


def test_int8_calibrated_or_refused(tiny, tmp_path):
    import tensorrt as trt

    path, info = tiny
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    if not getattr(builder, "platform_has_fast_int8", True):
        with pytest.raises(UserError, match="platform_has_fast_int8"):
            build_engine(path, int8=True, calib=IMAGES, out=str(tmp_path / "i.engine"))
        return
    engine = build_engine(path, int8=True, calib=IMAGES, out=str(tmp_path / "i.engine"))
    meta = sidecar.read_sidecar(engine)
    assert meta["precision"] == "int8"
    caches = [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".calib")]
    assert caches and "trt" + short_version(trt.__version__) in caches[0]
    batch = _real_batch(info)
    with TensorRTRunner.from_engine(engine) as runner:
        out = runner.infer(batch)
    ref = _reference(path, batch)
    assert (out.argmax(1) == ref.argmax(1)).mean() > 0.9


def test_engine_for_other_tensorrt_is_refused(tiny, tmp_path):
    path, _ = tiny
    engine = build_engine(path, out=str(tmp_path / "m.engine"))
    meta = json.load(open(engine + ".json"))
    meta["tensorrt"] = "7.1.3.0"
    json.dump(meta, open(engine + ".json", "w"))
    with pytest.raises(UserError, match="TensorRT 7.1.3.0 on"):
        TensorRTRunner.from_engine(engine)


def test_dynamic_batch_with_profile(tmp_path):
    info = ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32))
    path = str(tmp_path / "dyn-64x32.onnx")
    export_tiny_onnx(path, info)
    import onnx

    model = onnx.load(path)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(model, path)
    with pytest.raises(UserError, match="--shapes input:Nx3x32x64"):
        build_engine(path, out=str(tmp_path / "d.engine"))
    engine = build_engine(path, shapes=["input:1x3x32x64/2x3x32x64/4x3x32x64"], out=str(tmp_path / "d.engine"))
    batch = np.concatenate([_real_batch(info)] * 3)
    with TensorRTRunner.from_engine(engine) as runner:
        out3 = runner.infer(batch)
        out1 = runner.infer(batch[:1])
    np.testing.assert_allclose(out3, _reference(path, batch), atol=1e-4, rtol=1e-4)
    assert out1.shape == (1, 20, 32, 64)


def test_cuda_graph_where_cuda_python_exists(tiny):
    from espnet_edge.runtime.tensorrt.cuda import open_cuda

    try:
        cuda = open_cuda("cuda-python")
    except UserError as exc:
        pytest.skip("cuda-python not usable: {}".format(exc))
    path, info = tiny
    engine = build_engine(path)
    batch = _real_batch(info)
    with TensorRTRunner.from_engine(engine, cuda=cuda, cuda_graph=True) as runner:
        out = runner.infer(batch)
        assert runner.describe()["cuda"] == "cuda-python"
    np.testing.assert_allclose(out, _reference(path, batch), atol=1e-4, rtol=1e-4)
