"""Zoo model -> a clean, verified ONNX graph that TensorRT 8.2 parses.

torch.onnx.export (TorchScript exporter: gives plain opset-13 graphs without onnxscript), ESPNetv2's
adaptive pooling swapped for MatMuls, constants and BatchNorms folded, shapes inferred, checker clean,
espnet-edge metadata, the TensorRT operator check, then ONNX Runtime vs PyTorch on real images.
"""

import io
import os
import time
import warnings

from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.utils.atomic import ensure_writable_dir, write_bytes, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_OPSET = 13
MIN_OPSET = 11  # Resize with align_corners


def default_out_dir():
    """The checkout's top-level export/ folder, or ./export elsewhere."""
    if os.path.isfile(os.path.join(ROOT, "export", "README.md")):
        return os.path.join(ROOT, "export")
    return os.path.join(os.getcwd(), "export")


def artifact_name(entry_name, size, batch=1, fused=(), precision="fp32"):
    name = "{}-{}x{}".format(entry_name, size[0], size[1])
    if batch > 1:
        name += "-b{}".format(batch)
    if fused:
        name += "-fused" + "".join("-" + stage for stage in sorted(fused))
    if precision != "fp32":
        name += "-" + precision
    return name + ".onnx"


def report_path(onnx_path):
    return onnx_path + ".report.json"


def check_opset(opset, trt_version="8.2"):
    from espnet_edge.runtime.trt_support import load_support

    table = load_support(trt_version)
    if opset < MIN_OPSET:
        raise UserError("--opset {} is too old: the networks need opset >= {} (Resize with "
                        "align_corners)".format(opset, MIN_OPSET))
    if opset > table.max_opset:
        raise UserError("--opset {} is above what TensorRT {} parses (opset <= {}); use --opset {} or "
                        "name a newer TensorRT with --trt".format(opset, table.version, table.max_opset,
                                                                  min(DEFAULT_OPSET, table.max_opset)))
    if opset > 20:
        raise UserError("--opset {} is above what the exporter writes (<= 20)".format(opset))
    return opset


def build_torch_module(entry, weights=None, fused=()):
    """The eval-mode network as exported (with fused stages). -> (module, checkpoint path)."""
    from espnet_edge.host.export.wrappers import wrap
    from espnet_edge.host.models import build_model
    from espnet_edge.weights import find_weights

    path = find_weights(entry, explicit=weights)
    net = build_model(entry, weights=path)
    return wrap(net, entry.preprocess, "pre" in fused, "post" in fused), path


def _torch_export(module, info, opset):
    """-> onnx.ModelProto straight from the exporter (in memory)."""
    import onnx
    import torch

    from espnet_edge.host.export.adaptive_pool import patched_pyramid_pool

    dummy = torch.zeros(info.input_shape, dtype=torch.float32)
    buffer = io.BytesIO()
    with patched_pyramid_pool(), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (dummy,), buffer, opset_version=opset, input_names=["input"],
                          output_names=["logits"], do_constant_folding=True, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def set_metadata(model, info, extra=None):
    """Write ModelInfo (and ``extra`` str values) into metadata_props, replacing older values."""
    props = dict((p.key, p.value) for p in model.metadata_props)
    props.update(info.to_metadata())
    props.update(extra or {})
    del model.metadata_props[:]
    for key in sorted(props):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, props[key]
    return model


def save_model(model, path):
    write_bytes(path, model.SerializeToString())
    return path


def op_counts(model):
    counts = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def ort_session(path_or_bytes, threads=None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def export_model(entry, weights=None, size=None, batch=1, opset=DEFAULT_OPSET, fuse_pre=False,
                 fuse_post=False, out_dir=None, out_path=None, trt_version="8.2", support=None,
                 images=None, verify_limit=None, log=None):
    """Export ``entry``; returns the report dict (also written to ``<onnx>.report.json``)."""
    from espnet_edge.host.export import graph_passes
    from espnet_edge.host.models import check_size
    from espnet_edge.runtime import trt_support
    from espnet_edge.weights import sha256_of

    log = log or (lambda text: None)
    size = tuple(size or entry.input_size)
    check_size(entry, size)
    if batch < 1:
        raise UserError("--batch must be at least 1")
    check_opset(opset, trt_version)
    fused = tuple(s for s, on in (("post", fuse_post), ("pre", fuse_pre)) if on)
    if out_path is None:
        out_dir = ensure_writable_dir(out_dir or default_out_dir())
        out_path = os.path.join(out_dir, artifact_name(entry.name, size, batch, fused))
    else:
        ensure_writable_dir(os.path.dirname(os.path.abspath(out_path)))
    started = time.time()
    module, checkpoint = build_torch_module(entry, weights, fused)
    info = ModelInfo.from_zoo(entry, size=size, fused=fused, batch=batch)
    info.checkpoint_sha256 = entry.sha256 if not weights else sha256_of(checkpoint)
    log("exporting {} at {}x{} (opset {}{})".format(entry.name, size[0], size[1], opset,
                                                     ", fused: " + "+".join(fused) if fused else ""))
    model = _torch_export(module, info, opset)
    model, stats = graph_passes.clean(model)
    model.producer_name = "espnet-edge"
    model.doc_string = "{} ({}), input {}x{}".format(entry.name, entry.dataset, size[0], size[1])
    set_metadata(model, info)
    table = trt_support.require_supported(model, trt_version, support, what=os.path.basename(out_path))
    from espnet_edge.host.export.verify import verify_against_torch
    from espnet_edge.utils.atomic import atomic_path

    with atomic_path(out_path, flag="--out") as unverified:   # the .onnx appears only once verified
        save_model(model, unverified)
        export_seconds = time.time() - started
        session = ort_session(unverified)
        verification = verify_against_torch(module, session, info, images, verify_limit)
        del session
    report = {
        "onnx": os.path.abspath(out_path), "model": entry.name, "size": list(size), "batch": batch,
        "opset": opset, "fused": list(fused), "input": {"name": "input", "shape": list(info.input_shape),
                                                        "layout": info.input_layout},
        "output": {"name": "logits", "dtype": "int32" if fuse_post else "float32"},
        "precision": "fp32", "checkpoint": checkpoint, "checkpoint_sha256": info.checkpoint_sha256,
        "graph": {"nodes": len(model.graph.node), "ops": op_counts(model), "passes": stats},
        "tensorrt_check": {"version": table.version, "matrix": table.source, "passed": True},
        "export_seconds": round(export_seconds, 2),
        "verification": dict(verification, reference="PyTorch fp32 (CPU)", backend="onnxruntime CPU"),
    }
    write_json(report_path(out_path), report)
    return report


def ensure_onnx(entry, weights=None, size=None, batch=1):
    """export/<model>-<W>x<H>.onnx for the loader, exported (and verified) first when missing."""
    size = tuple(size or entry.input_size)
    path = os.path.join(default_out_dir(), artifact_name(entry.name, size, batch))
    if os.path.isfile(path) and not weights:
        return path
    export_model(entry, weights=weights, size=size, batch=batch, out_path=path)
    return path
