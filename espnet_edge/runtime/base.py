"""The runner interface every backend implements (Polygraphy-style), and the one registry of backends."""

import importlib
from collections import OrderedDict
from typing import NamedTuple, Tuple

from espnet_edge.errors import UserError


class Runner(object):
    """A loaded network that maps an input batch (numpy) to its output (numpy).

    ``info`` (ModelInfo) says what the input must look like and what comes out: logits
    [N, classes, H, W] float32, or with fused post-processing a class map [N, H, W] (int32/int64).
    """

    backend = "base"

    def __init__(self, info):
        self.info = info

    def infer(self, batch):
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
