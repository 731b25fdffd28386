"""Runner on ONNX Runtime: CPU by default, CUDA / TensorRT execution providers when present."""

import os
import time

from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.runtime.base import Runner
from espnet_edge.runtime.onnx_graph import set_nodes

# preference order when the caller names none; only those this onnxruntime build has are used
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("the onnxruntime backend needs onnxruntime: pip install onnxruntime "
                                "(or onnxruntime-gpu)")
    return onnxruntime


def prelu_as_relus(model):
    """Rewrite every PRelu with a constant slope as Relu(x) + (-a) * Relu(-x), in place; returns the count.

    For ONNX Runtime's CPU provider only, never written to a file: its PRelu kernel is a single-threaded
    broadcast loop that also splits the NCHWc (blocked layout) chains around it, and ESPNetv2 has 64 of
    them (a third of its CPU time). Relu, Mul and Add run multi-threaded and stay in the NCHWc layout.
    Equal up to float rounding (one of the two terms is always 0). TensorRT has PRelu natively, so the
    exported file keeps it."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = dict((init.name, init) for init in graph.initializer)
    nodes, count = [], 0
    for index, node in enumerate(graph.node):
        if node.op_type != "PRelu" or node.domain not in ("", "ai.onnx") or node.input[1] not in inits:
            nodes.append(node)
            continue
        data, slope_name = node.input
        slope = numpy_helper.to_array(inits[slope_name])
        tag = "ort_prelu{}_".format(index)
        graph.initializer.extend([numpy_helper.from_array(np.full(slope.shape, -1, slope.dtype), tag + "minus1"),
                                  numpy_helper.from_array(-slope, tag + "neg_slope")])
        nodes.extend([
            helper.make_node("Relu", [data], [tag + "pos"], name=tag + "pos"),
            helper.make_node("Mul", [data, tag + "minus1"], [tag + "negated"], name=tag + "negate"),
            helper.make_node("Relu", [tag + "negated"], [tag + "neg"], name=tag + "neg"),
            helper.make_node("Mul", [tag + "neg", tag + "neg_slope"], [tag + "scaled"], name=tag + "scale"),
            helper.make_node("Add", [tag + "pos", tag + "scaled"], list(node.output), name=tag + "add"),
        ])
        count += 1
    set_nodes(graph, nodes)
    return count


def _cpu_session_bytes(path):
    """-> (the model rewritten for ONNX Runtime's CPU provider, {rewrite: count}), or (None, {}) when
    there is nothing to rewrite (or onnx is not installed: then the file is loaded as it is)."""
    from espnet_edge.runtime.overlay_tail import lower_overlay_tail

    try:
        import onnx
    except ImportError:
        return None, {}
    try:
        model = onnx.load(path)
    except Exception:  # unreadable: let onnxruntime report it below
        return None, {}
    counts = dict((name, count) for name, count in (("prelu_as_relus", prelu_as_relus(model)),
                                                     ("overlay_tail", lower_overlay_tail(model))) if count)
    return (model.SerializeToString() if counts else None), counts


def _check_input_shape(path, info, declared):
    """--model NAME with --onnx FILE: the file must be that model at that size (static dims agree)."""
    expected = list(info.input_shape)
    if len(declared) == len(expected) and all(
            not isinstance(d, int) or d <= 0 or d == e for d, e in zip(declared, expected)):
        return
    raise UserError("{} takes input {} but {} needs {}: the file is not that model at that size; drop "
                    "--model (the file names its own model) or pass the file exported for it".format(
                        path, list(declared), info.name, expected))


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
    TIMINGS = ("compute: session.run on the host clock; h2d and d2h 0.0: ONNX Runtime copies to and from "
               "a GPU provider inside run, and the CPU provider reads and writes host memory")

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
        # denormal activations cost x86 CPUs a microcode assist per multiply; exported weights are
        # already flushed (host/export/denormals.py)
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        # workers spinning between parallel sections burn the time slices of every other thread on the cores
        # (a pipeline's capture and render threads, other processes): compute-only and demo FPS both rose
        # ~1.5x on a shared 2-core CPU with spinning off (docs/bench.md, "The demo as a user runs it")
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        self.cpu_rewrites = {}
        source = path
        if chosen[0] == "CPUExecutionProvider":
            rewritten, self.cpu_rewrites = _cpu_session_bytes(path)
            if rewritten is not None:
                source = rewritten
        try:
            self.session = ort.InferenceSession(source, options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError("onnxruntime cannot load {}: {}".format(path, first[:200]))
        self.input_name = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()
        declared = self.session.get_inputs()[0].shape
        _check_input_shape(path, info, declared)
        if declared and isinstance(declared[0], int) and declared[0] > 0:
            self.fixed_batch = declared[0]

    def infer_impl(self, batch):
        start = time.perf_counter()
        output = self.session.run(None, {self.input_name: batch})[0]
        return output, (0.0, (time.perf_counter() - start) * 1000.0, 0.0)

    def describe(self):
        ort = _onnxruntime()
        return {"backend": self.backend, "onnx": self.path, "providers": list(self.providers),
                "threads": self.threads, "onnxruntime": ort.__version__,
                "precision": self.info.precision, "cpu_rewrites": dict(self.cpu_rewrites),
                "denormal_as_zero": True, "intra_op_spinning": False}
