"""The runner interface every backend implements (Polygraphy-style), and the one registry of backends."""

import importlib
import time
from collections import OrderedDict
from typing import NamedTuple, Tuple

from espnet_edge.errors import UserError


class Timings(NamedTuple("Timings", [("h2d", float), ("compute", float), ("d2h", float), ("host", float)])):
    """Milliseconds of one ``Runner.infer`` call: ``h2d`` (input copy to the device), ``compute`` (the
    network), ``d2h`` (output copy back) as the backend measures them (CUDA events on TensorRT; the host
    clock elsewhere, 0.0 where the backend has no copy of its own: see ``Runner.TIMINGS``), and ``host``:
    the whole call on the host clock (input check, copies, synchronisation), as the caller waited."""
    __slots__ = ()

    def to_dict(self):
        return OrderedDict(self._asdict())


class Runner(object):
    """A loaded network that maps an input batch (numpy) to its output (numpy).

    ``info`` (ModelInfo) says what the input must look like and what comes out: logits
    [N, classes, H, W] float32, or with fused post-processing a class map [N, H, W] (int32/int64).
    Callers use ``infer(batch)``: it checks the batch against ``info.input_shape`` / ``input_dtype``
    (any N where ``fixed_batch`` is None), runs ``infer_impl`` and keeps the call's ``timings``.
    A backend implements ``infer_impl(batch) -> (output, (h2d_ms, compute_ms, d2h_ms))``, every stage
    a number (never None), and says in ``TIMINGS`` how it measures them.
    """

    backend = "base"
    TIMINGS = "compute: the backend call on the host clock; h2d and d2h 0.0 (no copies of its own)"

    def __init__(self, info):
        self.info = info
        self.fixed_batch = None  # the one batch size the backend takes, where it takes only one
        self.timings = None      # Timings of the last infer() call

    def infer(self, batch):
        batch = check_input(self, batch)
        start = time.perf_counter()
        output, (h2d, compute, d2h) = self.infer_impl(batch)
        host = (time.perf_counter() - start) * 1000.0
        self.timings = Timings(float(h2d), float(compute), float(d2h), host)
        return output

    def infer_impl(self, batch):
        raise NotImplementedError

    def describe(self):
        """Backend details for reports (providers, device, versions)."""
        return {"backend": self.backend}

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def check_input(runner, batch):
    """``batch`` as the ndarray ``runner`` takes, or one UserError naming what was expected and what came."""
    import numpy as np

    info = runner.info
    batch = np.asarray(batch)
    expected = list(info.input_shape)
    expected[0] = runner.fixed_batch or "N"
    dtype = np.dtype(info.input_dtype)
    fits = batch.ndim == len(expected) and tuple(batch.shape[1:]) == tuple(info.input_shape[1:]) and \
        batch.shape[0] >= 1 and (runner.fixed_batch is None or batch.shape[0] == runner.fixed_batch)
    if not fits or batch.dtype != dtype:
        raise UserError("{} ({}) expects input shaped [{}] {}, got {} {}; make the batch with the model's "
                        "preprocessing (espnet_edge.preprocess or Segmenter.preprocess)".format(
                            info.name, runner.backend, ", ".join(str(d) for d in expected), dtype,
                            list(batch.shape), batch.dtype))
    return batch


class Backend(NamedTuple("Backend", [("name", str), ("opener", str), ("runs", Tuple[str, ...]),
                                       ("description", str)])):
    """A registered backend. ``opener`` is "module:function" (imported only when the backend is opened);
    every opener has the signature ``opener(source, threads=None, **options) -> Runner`` where ``source``
    has ``kind`` ("model", "onnx" or "engine"), ``path``, ``entry`` and ``info``. ``runs``: the source
    kinds it opens directly; a zoo model reaches the others through the registered exporter."""

    def open(self, source, threads=None, **options):
        module_name, function_name = self.opener.split(":")
        return getattr(importlib.import_module(module_name), function_name)(source, threads=threads, **options)


# The one list of backends, in registration order. Device backends register below; the host package
# registers torch and the exporter (espnet_edge.backends loads it where it is installed).
BACKENDS = OrderedDict()
_EXPORTERS = []


def register_backend(name, opener, runs, description=""):
    BACKENDS[name] = Backend(name, opener, tuple(runs), description)
    return BACKENDS[name]


def backend_names():
    return tuple(BACKENDS)


def get_backend(name):
    if name not in BACKENDS:
        raise UserError("unknown backend {!r}; choose one of {}".format(name, ", ".join(BACKENDS)))
    return BACKENDS[name]


def register_exporter(opener):
    """``opener`` ("module:function") turns a zoo model into an ONNX file on demand:
    ``function(entry, weights=None, size=None, batch=1, **frame) -> path`` (``frame``: the frame graph's
    options, see host.export.pipeline.ensure_onnx)."""
    if opener not in _EXPORTERS:
        _EXPORTERS.append(opener)


def exporter():
    """The registered model -> ONNX function, or None where no exporter is installed (a Jetson)."""
    if not _EXPORTERS:
        return None
    module_name, function_name = _EXPORTERS[0].split(":")
    return getattr(importlib.import_module(module_name), function_name)


register_backend("onnxruntime", "espnet_edge.runtime.openers:open_onnxruntime", ("onnx",),
                 "ONNX Runtime (CPU; CUDA/TensorRT providers when installed)")
register_backend("tensorrt", "espnet_edge.runtime.openers:open_tensorrt", ("onnx", "engine"),
                 "TensorRT engine (built from ONNX on this GPU when given one)")
