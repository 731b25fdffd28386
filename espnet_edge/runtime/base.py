"""The runner interface every backend implements (Polygraphy-style), and the backend registry."""

import importlib

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


# backend name -> "module:ClassName"; each module imports its heavy library lazily.
BACKENDS = {
    "torch": "espnet_edge.host.torch_runner:TorchRunner",
    "onnxruntime": "espnet_edge.runtime.onnxruntime_runner:OnnxRuntimeRunner",
    "tensorrt": "espnet_edge.runtime.tensorrt.runner:TensorRTRunner",
}


def runner_class(backend):
    if backend not in BACKENDS:
        raise UserError("unknown backend {!r}; choose one of {}".format(
            backend, ", ".join(sorted(BACKENDS))))
    module_name, class_name = BACKENDS[backend].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)
