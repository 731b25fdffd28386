"""INT8 calibration input: real images -> exactly the runtime's preprocessing, batched; calibration
cache keyed by TensorRT version; ModelInfo read from a real exported ONNX without the onnx package."""

import os

import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, IMAGES, PHOTOS
from espnet_edge.errors import UserError
from espnet_edge.images import list_images, read_image
from espnet_edge.preprocess import preprocess
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.runtime.tensorrt import calibrator, onnxmeta
from espnet_edge.zoo import get_model

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


def export_tiny_onnx(path, info):
    """A tiny conv net exported with torch, the ModelInfo attached as espnet-edge metadata."""

    class Tiny(torch.nn.Module):
        def __init__(self, classes):
            super(Tiny, self).__init__()
            self.conv = torch.nn.Conv2d(3, classes, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    torch.manual_seed(0)
    model = Tiny(info.num_classes).eval()
    width, height = info.input_size
    dummy = torch.zeros(info.batch, 3, height, width)
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(model, dummy, path, input_names=["input"], output_names=["logits"], opset_version=13,
                      **kwargs)
    proto = onnx.load(path)
    for key, value in info.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, path)
    return path


@pytest.fixture(scope="module")
def espnet_info():
    return ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32), batch=2)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, espnet_info):
    return export_tiny_onnx(str(tmp_path_factory.mktemp("onnx") / "tiny-64x32.onnx"), espnet_info)


def test_metadata_read_without_onnx_matches_onnx(tiny_onnx, espnet_info):
    ours = onnxmeta.read_metadata_props(tiny_onnx)
    theirs = {p.key: p.value for p in onnx.load(tiny_onnx).metadata_props}
    assert ours == theirs and len(ours) >= 7
    info = onnxmeta.model_info(tiny_onnx)
    assert info.to_dict() == espnet_info.to_dict()


def test_metadata_reader_rejects_non_onnx_files(tmp_path, tiny_onnx):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff" * 40)
    with pytest.raises(UserError, match="not a readable ONNX"):
        onnxmeta.read_metadata_props(str(bad))
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(open(tiny_onnx, "rb").read()[:100])
    with pytest.raises(UserError, match="not a readable ONNX"):
        onnxmeta.read_metadata_props(str(cut))


@pytest.mark.parametrize("model, size", [("espnet-q8", (64, 32)), ("espnetv2-s0.5-pascal-256", (48, 48))])
def test_calibration_batches_are_the_runtime_preprocessing(model, size):
    info = ModelInfo.from_zoo(get_model(model), size=size, batch=2)
    files = calibrator.calibration_files(IMAGES)
    assert len(files) == 10  # 2 Cityscapes frames + 8 photos, real files
    batches = list(calibrator.iter_batches(files, info, 2))
    assert len(batches) == 5
    for start, batch in zip(range(0, 10, 2), batches):
        assert batch.dtype == np.float32 and batch.flags["C_CONTIGUOUS"]
        assert batch.shape == (2, 3, size[1], size[0])
        for offset in range(2):
            expected = preprocess(read_image(files[start + offset]), info.preprocess, info.input_size)
            assert np.array_equal(batch[offset], expected[0])


def test_calibration_batches_for_fused_preprocessing_are_raw_nhwc():
    info = ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32), fused=("pre",))
    path = list_images(CITYSCAPES_IMAGES)[0]
    batch = calibrator.prepare_batch([path], info)
    expected = preprocess(read_image(path), info.preprocess, info.input_size, layout="NHWC", fused_pre=True)
    assert batch.shape == (1, 32, 64, 3) and np.array_equal(batch, expected)
    assert batch.max() > 1.0  # raw pixels, normalisation is inside the graph


def test_short_tail_is_dropped_and_limit_applies():
    info = ModelInfo.from_zoo(get_model("espnet-q8"), size=(32, 16))
    files = calibrator.calibration_files(PHOTOS, max_images=5)
    assert len(files) == 5
    assert [b.shape[0] for b in calibrator.iter_batches(files, info, 2)] == [2, 2]


def test_calibration_batch_feeds_the_exported_network(tiny_onnx, espnet_info):
    ort = pytest.importorskip("onnxruntime")
    batch = next(calibrator.iter_batches(calibrator.calibration_files(CITYSCAPES_IMAGES), espnet_info, 2))
    session = ort.InferenceSession(tiny_onnx, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": batch})
    assert logits.shape == (2, 20, 32, 64) and np.isfinite(logits).all()


def test_missing_or_empty_calibration_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        calibrator.calibration_files(str(tmp_path / "none"))
    with pytest.raises(UserError, match="holds no images"):
        calibrator.calibration_files(str(tmp_path))


def test_cache_file_name_is_keyed_by_tensorrt_version():
    assert calibrator.cache_path_for("m-int8", "8.2.1.8") == "m-int8.trt8.2.1.calib"
    assert calibrator.cache_path_for("m-int8", "10.3.0") != calibrator.cache_path_for("m-int8", "8.2.1.8")


def test_cache_header_versions():
    assert calibrator.header_version(b"TRT-8201-EntropyCalibration2\ninput: 3c010a14\n") == (8, 2, 1)
    assert calibrator.header_version(b"TRT-8601-EntropyCalibration2\n") == (8, 6, 1)
    assert calibrator.header_version(b"TRT-100300-EntropyCalibration2\n") == (10, 3, 0)
    assert calibrator.header_version(b"garbage") is None


def test_cache_roundtrip_and_version_mismatch(tmp_path):
    path = str(tmp_path / calibrator.cache_path_for("m-int8", "8.2.1.8"))
    data = b"TRT-8201-EntropyCalibration2\ninput: 3c010a14\nlogits: 3d8f5c29\n"
    calibrator.write_cache(path, data)
    assert calibrator.read_cache(path, "8.2.1.8") == data
    with pytest.raises(UserError) as info:
        calibrator.read_cache(path, "10.3.0")
    assert "TensorRT 8.2.1" in str(info.value) and "10.3.0" in str(info.value) and "--calib" in str(info.value)
    assert calibrator.read_cache(str(tmp_path / "none.calib"), "8.2.1.8") is None
    assert not [f for f in os.listdir(str(tmp_path)) if f.endswith(".tmp")]
