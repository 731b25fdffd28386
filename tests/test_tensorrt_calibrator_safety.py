"""Calibration callbacks called the way TensorRT calls them: nothing escapes into TensorRT, the first
failure is stored, the callbacks answer None from then on, and the build re-raises it as one line."""

import os
import shutil

import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.runtime.tensorrt import calibrator
from espnet_edge.zoo import get_model
from host_cuda import HostCuda

TRT_CACHE = b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n"


@pytest.fixture(scope="module")
def info():
    return ModelInfo.from_zoo(get_model("espnet-q8"), size=(64, 32), batch=1)


def make(info, files, cache_path=None, cuda=None, batch=1):
    cuda = cuda or HostCuda()
    return calibrator.CalibratorCallbacks(info, batch, files, cache_path, cuda, progress=False), cuda


def drain(callbacks):
    """What TensorRT does: ask for batches until None, then hand over the cache it computed."""
    pointers = []
    while True:
        got = callbacks.get_batch(["input"])
        if got is None:
            break
        pointers.append(got)
    callbacks.write_calibration_cache(memoryview(TRT_CACHE))
    return pointers


def test_batches_land_in_device_memory_and_cache_is_written(tmp_path, info):
    files = calibrator.calibration_files(CITYSCAPES_IMAGES)[:2]
    cache = str(tmp_path / "m.trt8.6.1.calib")
    cb, cuda = make(info, files, cache)
    assert cb.read_calibration_cache() is None
    first = cb.get_batch(["input"])
    assert isinstance(first, list) and all(type(p) is int for p in first)
    np.testing.assert_array_equal(cuda.read(first[0], np.float32, cb.shape),
                                  calibrator.prepare_batch(files[:1], info))
    assert len(drain(cb)) == 1
    cb.raise_stored()  # nothing failed
    assert open(cache, "rb").read() == TRT_CACHE
    cb.close()
    cb.close()
    assert cuda.memory == {} and len(cuda.freed) == 1


def test_bad_image_is_stored_not_raised_into_tensorrt(tmp_path, info):
    folder = tmp_path / "frames"
    folder.mkdir()
    good = calibrator.calibration_files(CITYSCAPES_IMAGES)[0]
    shutil.copy(good, str(folder / "a.png"))
    (folder / "b.png").write_bytes(b"not an image at all")
    shutil.copy(good, str(folder / "c.png"))
    cb, _ = make(info, calibrator.calibration_files(str(folder)))
    assert cb.get_batch(["input"]) is not None
    assert cb.get_batch(["input"]) is None          # b.png failed: "no more data" for TensorRT
    assert cb.get_batch(["input"]) is None          # and it stays stopped (c.png is not fed)
    assert cb.write_calibration_cache(memoryview(TRT_CACHE)) is None
    with pytest.raises(calibrator.CalibrationError) as caught:
        cb.raise_stored()
    message = str(caught.value)
    assert "get_batch" in message and "b.png" in message and "\n" not in message
    assert isinstance(caught.value, UserError)


def test_write_cache_failure_is_reported_after_the_build(tmp_path, info):
    (tmp_path / "a-file").write_text("x")
    cache = str(tmp_path / "a-file" / "m.calib")  # its folder is a file: the write fails
    cb, _ = make(info, calibrator.calibration_files(CITYSCAPES_IMAGES)[:1], cache)
    drain(cb)
    assert not os.path.exists(cache)
    with pytest.raises(UserError, match=r"write_calibration_cache: .*a-file") as caught:
        cb.raise_stored()
    assert "\n" not in str(caught.value)


class FailingCopy(HostCuda):
    def htod(self, buffer, host):
        raise RuntimeError("cudaErrorIllegalAddress\nsecond line of a driver message")


def test_unexpected_exception_becomes_one_line(info):
    cb, _ = make(info, calibrator.calibration_files(CITYSCAPES_IMAGES)[:1], cuda=FailingCopy())
    assert cb.get_batch(["input"]) is None
    with pytest.raises(UserError) as caught:
        cb.raise_stored()
    assert str(caught.value) == ("INT8 calibration stopped in get_batch: RuntimeError: "
                                 "cudaErrorIllegalAddress")


def test_keyboard_interrupt_inside_tensorrt_is_raised_again_after(info):
    class Interrupted(HostCuda):
        def htod(self, buffer, host):
            raise KeyboardInterrupt()

    cb, _ = make(info, calibrator.calibration_files(CITYSCAPES_IMAGES)[:1], cuda=Interrupted())
    assert cb.get_batch(["input"]) is None
    with pytest.raises(KeyboardInterrupt):
        cb.raise_stored()


def test_cache_given_is_returned_and_no_batches_needed(info):
    cb = calibrator.CalibratorCallbacks(info, 1, [], None, HostCuda(), cache_data=TRT_CACHE, progress=False)
    assert cb.read_calibration_cache() == TRT_CACHE
    assert cb.get_batch(["input"]) is None
    cb.raise_stored()
