"""Runner on ONNX Runtime: CPU by default, CUDA / TensorRT execution providers when present."""

import os

from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.runtime.base import Runner

# preference order when the caller names none; only those this onnxruntime build has are used
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("the onnxruntime backend needs onnxruntime: pip install onnxruntime "
                                "(or onnxruntime-gpu)")
    return onnxruntime


def read_metadata(path):
    """metadata_props of an ONNX file as a dict, with one-line errors for unreadable files."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise UserError("cannot read ONNX file {} ({}): it is truncated or not an ONNX model; export "
                        "it again with `espnet-edge export`".format(path, type(exc).__name__))
    if not model.graph.node:
        raise UserError("ONNX file {} holds no graph; export it again with `espnet-edge export`".format(path))
    return dict((p.key, p.value) for p in model.metadata_props)


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, path, threads=None, providers=None, info=None):
        from espnet_edge.runtime.model_info import ModelInfo

        ort = _onnxruntime()
        if not os.path.isfile(path):
            raise UserError("ONNX file {} does not exist".format(path))
        if info is None:
            info = ModelInfo.from_metadata(read_metadata(path), source="ONNX file " + path)
        Runner.__init__(self, info)
        self.path = path
        self.threads = threads
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        available = ort.get_available_providers()
        if providers:
            missing = [p for p in providers if p not in available]
            if missing:
                raise UserError("onnxruntime here has no {} (it has {})".format(
                    ", ".join(missing), ", ".join(available)))
            chosen = list(providers)
        else:
            chosen = [p for p in _GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(path, options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError("onnxruntime cannot load {}: {}".format(path, first[:200]))
        self.input_name = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()

    def infer(self, batch):
        return self.session.run(None, {self.input_name: batch})[0]

    def describe(self):
        ort = _onnxruntime()
        return {"backend": self.backend, "onnx": self.path, "providers": list(self.providers),
                "threads": self.threads, "onnxruntime": ort.__version__,
                "precision": self.info.precision}
