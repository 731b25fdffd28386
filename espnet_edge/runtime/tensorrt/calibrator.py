"""INT8 calibration: real images preprocessed exactly as the runtime does, fed to TensorRT's entropy
calibrator, and the calibration cache it writes, keyed by TensorRT version.

The cache file name carries the TensorRT version (``<stem>.trt8.2.1.calib``) and TensorRT's own
header line ("TRT-8201-EntropyCalibration2") is checked too, so a cache from another version is
never fed to the builder.
"""

import logging
import os
import re

import numpy as np

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.images import list_images, read_image
from espnet_edge.preprocess import preprocess
from espnet_edge.runtime.tensorrt.compat import parse_version, short_version
from espnet_edge.utils.atomic import write_bytes
from espnet_edge.utils.progress import Progress

log = logging.getLogger(__name__)

DEFAULT_MAX_IMAGES = defaults.CALIB_IMAGES


def calibration_files(calib_dir, max_images=DEFAULT_MAX_IMAGES):
    if not os.path.exists(calib_dir):
        raise UserError("calibration folder {} does not exist: give --calib a folder of real frames "
                        "(a few hundred, like the ones the model will see)".format(calib_dir))
    files = list_images(calib_dir)
    if max_images:
        files = files[:max_images]
    return files


def prepare_image(path, info):
    """One image file -> the network input for it (1 x ...), exactly espnet_edge.preprocess.preprocess."""
    return preprocess(read_image(path), info.preprocess, info.input_size, layout=info.input_layout,
                      fused_pre=info.fused_pre)


def prepare_batch(paths, info):
    """Image files -> one float32 C-contiguous batch [len(paths), ...]."""
    if not paths:
        raise UserError("no calibration images")
    return np.ascontiguousarray(np.concatenate([prepare_image(p, info) for p in paths], axis=0),
                                dtype=np.float32)


def iter_batches(paths, info, batch_size):
    """Full batches of ``batch_size`` (the engine's static batch); a short tail is dropped."""
    batch_size = max(int(batch_size), 1)
    for start in range(0, len(paths) - batch_size + 1, batch_size):
        yield prepare_batch(paths[start:start + batch_size], info)


def cache_path_for(base, tensorrt_version):
    """'model-int8' + '8.2.1.8' -> 'model-int8.trt8.2.1.calib'."""
    return "{}.trt{}.calib".format(base, short_version(tensorrt_version))


_HEADER_RE = re.compile(br"^TRT-(\d+)-")


def header_version(data):
    """TensorRT's own calibration-cache header -> (major, minor, patch), or None when absent.

    The number is NV_TENSORRT_VERSION: major*1000 + minor*100 + patch before TensorRT 10
    ('TRT-8201-EntropyCalibration2' is 8.2.1), major*10000 + minor*100 + patch from 10 on
    ('TRT-100300-...' is 10.3.0).
    """
    match = _HEADER_RE.match(bytes(data[:32]))
    if not match:
        return None
    number = int(match.group(1))
    if number >= 100000:
        return (number // 10000, (number // 100) % 100, number % 100)
    return (number // 1000, (number // 100) % 10, number % 100)


def read_cache(path, tensorrt_version):
    """Calibration-cache bytes if ``path`` exists and was written by this TensorRT version, else None.

    Raises UserError when a cache was given explicitly for another version (its header says which).
    """
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        data = handle.read()
    if not data:
        return None
    found = header_version(data)
    wanted = parse_version(tensorrt_version)[:3]
    if found is not None and found[:2] != wanted[:2]:
        raise UserError("calibration cache {} was written by TensorRT {}.{}.{}, this is TensorRT {}.{}.{}: "
                        "calibrate again with --calib DIR".format(path, found[0], found[1], found[2], *wanted))
    return data


def write_cache(path, data):
    write_bytes(path, bytes(data))


class CalibrationError(UserError):
    """A calibration callback failed inside TensorRT; raised by the build once TensorRT returns."""


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return "{}: {}".format(type(exc).__name__, text[0]) if text else type(exc).__name__


class CalibratorCallbacks(object):
    """What TensorRT calls during INT8 calibration, made safe to call from inside TensorRT.

    TensorRT 8.2's Python wrapper has no try/catch around these calls and >= 8.5 prints the
    exception and treats it as "no more data". So every callback catches whatever it raises, stores
    the first failure, returns None (TensorRT's "no batch" / "no cache"), and returns None from then
    on; ``raise_stored()`` (the builder calls it after the build) raises it as one clear line.
    """

    def __init__(self, info, batch_size, files, cache_path, cuda, cache_data=None, progress=True):
        self.batch_size = int(batch_size)
        self.batches = iter_batches(files, info, batch_size) if files else iter(())
        self.shape = (self.batch_size,) + tuple(info.input_shape[1:])
        self.cuda = cuda
        self.cache_path = cache_path
        self.cache_data = cache_data
        self.device = cuda.alloc(int(np.prod(self.shape)) * 4)
        count = len(files) // self.batch_size if files else 0
        self.progress = Progress(count, "calibrating", enabled=None if progress else False)
        self.failure = None  # (callback name, exception)

    def _guard(self, name, call, *args):
        if self.failure is not None:
            return None
        try:
            return call(*args)
        except BaseException as exc:  # noqa: BLE001 - nothing may escape into TensorRT's C++ frames
            self.failure = (name, exc)
            self.progress.close()
            return None

    # the TensorRT interface
    def get_batch_size(self):
        return self.batch_size

    def get_batch(self, names, *args):
        return self._guard("get_batch", self._next_batch)

    def read_calibration_cache(self):
        return self._guard("read_calibration_cache", self._read_cache)

    def write_calibration_cache(self, cache):
        return self._guard("write_calibration_cache", self._write_cache, cache)

    # the work behind it
    def _next_batch(self):
        try:
            batch = next(self.batches)
        except StopIteration:
            self.progress.close()
            return None
        if batch.shape != self.shape:
            raise UserError("calibration batch {} does not match the input {}".format(batch.shape, self.shape))
        self.cuda.htod(self.device, batch)
        self.progress.update()
        return [int(self.device.ptr)]

    def _read_cache(self):
        if self.cache_data:
            log.info("using calibration cache (%d bytes)", len(self.cache_data))
            return self.cache_data
        return None

    def _write_cache(self, cache):
        if self.cache_path:
            write_cache(self.cache_path, cache)
        return None

    def close(self):
        """Free the device buffer (idempotent); the builder calls it once TensorRT is done."""
        if self.device is not None:
            self.cuda.free(self.device)
            self.device = None

    def raise_stored(self):
        if self.failure is None:
            return
        name, exc = self.failure
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        detail = str(exc) if isinstance(exc, UserError) else _one_line(exc)
        raise CalibrationError("INT8 calibration stopped in {}: {}".format(name, detail))


def make_calibrator(info, batch_size, files, cache_path, tensorrt_version, cuda, cache_data=None,
                    progress=True):
    """An IInt8EntropyCalibrator2 (subclassed here, when tensorrt is importable) over ``files``.

    With ``cache_data`` (bytes) TensorRT takes the scales from it and asks for no batches.
    """
    import tensorrt as trt

    class EntropyCalibrator(CalibratorCallbacks, trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            CalibratorCallbacks.__init__(self, info, batch_size, files, cache_path, cuda,
                                         cache_data=cache_data, progress=progress)

    return EntropyCalibrator()
