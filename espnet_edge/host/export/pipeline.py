"""Zoo model -> a clean, verified ONNX graph that TensorRT 8.2 parses.

torch.onnx.export (TorchScript exporter: gives plain opset-13 graphs without onnxscript), ESPNetv2's
adaptive pooling swapped for MatMuls, constants and BatchNorms folded, shapes inferred, checker clean,
espnet-edge metadata, the TensorRT operator check, then ONNX Runtime vs PyTorch on real images.
"""

import io
import os
import time
import warnings

from espnet_edge import defaults, paths
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.utils.atomic import ensure_writable_dir, locked, write_bytes, write_json
from espnet_edge.utils.progress import Progress

DEFAULT_OPSET = defaults.ONNX_OPSET
MIN_OPSET = 11  # Resize with align_corners
# what export_model reports to its progress callback, in order
EXPORT_STAGES = ("network built", "traced to ONNX", "TensorRT operator check", "verified against PyTorch")


def default_out_dir():
    """./export, in the current directory."""
    return paths.export_dir()


def artifact_name(entry_name, size, batch=1, fused=(), precision="fp32", frame_size=None, frame_dtype="float32",
                  overlay_alpha=None):
    name = "{}-{}x{}".format(entry_name, size[0], size[1])
    if frame_size:
        name += "-from{}x{}{}".format(frame_size[0], frame_size[1], "-u8" if frame_dtype == "uint8" else "")
    if overlay_alpha is not None and float(overlay_alpha) != defaults.OVERLAY_ALPHA:
        name += "-a{:g}".format(float(overlay_alpha))  # the overlay's alpha is fixed in the graph
    if batch > 1:
        name += "-b{}".format(batch)
    if fused:
        name += "-fused" + "".join("-" + stage for stage in sorted(fused))
    if precision != "fp32":
        name += "-" + precision
    return name + ".onnx"


def fused_stages(fuse_pre, fuse_post, overlay_alpha=None):
    """What a graph does beside the network; an overlay graph always ends in argmax ("post")."""
    fuse_post = fuse_post or overlay_alpha is not None
    return tuple(stage for stage, on in (("overlay", overlay_alpha is not None), ("post", fuse_post),
                                         ("pre", fuse_pre)) if on)


def report_path(onnx_path):
    return onnx_path + ".report.json"


def check_opset(opset, trt_version=defaults.TRT_CHECK_VERSION):
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


def build_torch_module(entry, weights=None, fused=(), frame=None):
    """The eval-mode network as exported (with fused stages). -> (module, checkpoint path).
    ``frame``: ModelInfo of a frame graph (--input-size): raw frame in (host/export/frame_graph.py)."""
    from espnet_edge.host.export.wrappers import wrap
    from espnet_edge.host.models import build_model
    from espnet_edge.weights import find_weights

    path = find_weights(entry, explicit=weights)
    net = build_model(entry, weights=path)
    if frame is not None:
        from espnet_edge.host.export.frame_graph import FrameGraph

        return FrameGraph(net, entry.preprocess, frame.frame_size, frame.input_size, entry.palette,
                          fuse_post="post" in fused, overlay_alpha=frame.overlay_alpha,
                          frame_dtype=frame.frame_dtype).eval(), path
    return wrap(net, entry.preprocess, "pre" in fused, "post" in fused), path


def _torch_export(module, info, opset):
    """-> onnx.ModelProto straight from the exporter (in memory)."""
    import onnx
    import torch

    from espnet_edge.host.export.adaptive_pool import patched_pyramid_pool

    dummy = torch.zeros(info.input_shape, dtype=torch.uint8 if info.frame_dtype == "uint8" else torch.float32)
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
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def export_model(entry, weights=None, size=None, batch=1, opset=DEFAULT_OPSET, fuse_pre=False,
                 fuse_post=False, out_dir=None, out_path=None, trt_version=defaults.TRT_CHECK_VERSION,
                 support=None, images=None, verify_limit=None, log=None, input_size=None, frame_dtype="float32",
                 overlay_alpha=None, flush_denormals=True, progress=None):
    """Export ``entry``; returns the report dict (also written to ``<onnx>.report.json``).
    ``progress``: called once after each of the EXPORT_STAGES (a Progress bar's ``update``).

    ``input_size`` (W, H): the graph takes the raw frame of that size (needs ``fuse_pre``);
    ``overlay_alpha``: it also returns the finished overlay (needs ``input_size``)."""
    from espnet_edge.host.export import graph_passes
    from espnet_edge.host.models import check_size
    from espnet_edge.runtime import trt_support
    from espnet_edge.utils.digest import sha256_of

    log = log or (lambda text: None)
    stage_done = progress or (lambda: None)
    size = tuple(size or entry.input_size)
    check_size(entry, size)
    if batch < 1:
        raise UserError("--batch must be at least 1")
    check_opset(opset, trt_version)
    frame_size = check_frame_options(input_size, fuse_pre, frame_dtype, overlay_alpha, trt_version, support)
    fused = fused_stages(fuse_pre, fuse_post, overlay_alpha)
    if out_path is None:
        out_dir = ensure_writable_dir(out_dir or default_out_dir())
        out_path = os.path.join(out_dir, artifact_name(entry.name, size, batch, fused, frame_size=frame_size,
                                                       frame_dtype=frame_dtype, overlay_alpha=overlay_alpha))
    else:
        ensure_writable_dir(os.path.dirname(os.path.abspath(out_path)))
    started = time.time()
    info = ModelInfo.from_zoo(entry, size=size, fused=fused, batch=batch, frame_size=frame_size,
                              frame_dtype=frame_dtype if frame_size else "float32", overlay_alpha=overlay_alpha,
                              weights=weights)
    module, checkpoint = build_torch_module(entry, weights, fused, frame=info if frame_size else None)
    info.checkpoint_sha256 = entry.sha256 if not weights else sha256_of(checkpoint)
    stage_done()
    log("exporting {} at {}x{} (opset {}{})".format(entry.name, size[0], size[1], opset,
                                                     ", fused: " + "+".join(fused) if fused else ""))
    model = _torch_export(module, info, opset)
    stage_done()
    model, stats = graph_passes.clean(model)
    from espnet_edge.host.export import denormals as denormal_pass

    denormals = denormal_pass.flush_denormals(model) if flush_denormals else {}
    model.producer_name = "espnet-edge"
    model.doc_string = "{} ({}), input {}x{}".format(entry.name, entry.dataset, size[0], size[1]) + (
        ", from raw {}x{} frames".format(*frame_size) if frame_size else "")
    set_metadata(model, info)
    table = trt_support.require_supported(model, trt_version, support, what=os.path.basename(out_path))
    stage_done()
    from espnet_edge.host.export.verify import verify_against_torch
    from espnet_edge.utils.atomic import atomic_path

    with atomic_path(out_path, flag="--out") as unverified:   # the .onnx appears only once verified
        save_model(model, unverified)
        export_seconds = time.time() - started
        session = ort_session(unverified)
        verification = verify_against_torch(module, session, info, images, verify_limit)
        stage_done()
        del session
    report = {
        "onnx": os.path.abspath(out_path), "model": entry.name, "size": list(size), "batch": batch,
        "opset": opset, "fused": list(fused), "input": {"name": "input", "shape": list(info.input_shape),
                                                        "layout": info.input_layout},
        "output": {"name": "logits", "dtype": _output_dtype(info),
                   "shape": "[N, H + R, W, 3]: BGR overlay at the frame size, then R rows holding the "
                            "network-size class map, flattened"
                   if info.fused_overlay else None},
        "frame": {"size": list(frame_size), "dtype": info.frame_dtype, "layout": "NHWC, BGR, 0..255",
                  "preprocessing": "in the graph (host/export/frame_graph.py)",
                  "overlay_alpha": overlay_alpha} if frame_size else None,
        "precision": "fp32", "checkpoint": checkpoint, "checkpoint_sha256": info.checkpoint_sha256,
        "graph": {"nodes": len(model.graph.node), "ops": op_counts(model), "passes": stats},
        "denormals_flushed": None if not flush_denormals else {
                              "total": sum(denormals.values()), "per_tensor": denormals,
                              "note": "float32 weights below 1.18e-38 set to 0; the verification "
                                      "below compares against the unflushed PyTorch network"},
        "tensorrt_check": {"version": table.version, "matrix": table.source, "passed": True},
        "export_seconds": round(export_seconds, 2),
        "verification": dict(verification, reference="PyTorch fp32 (CPU)", backend="onnxruntime CPU"),
    }
    write_json(report_path(out_path), report)
    return report


def _output_dtype(info):
    if info.fused_overlay:
        return info.frame_dtype
    return "int32" if info.fused_post else "float32"


def check_frame_options(input_size, fuse_pre, frame_dtype, overlay_alpha, trt_version=defaults.TRT_CHECK_VERSION,
                        support=None):
    """Validate --input-size / --frame-dtype / --fuse-overlay before any work; -> frame size or None."""
    from espnet_edge.runtime.trt_support import load_support

    if frame_dtype not in ("float32", "uint8"):
        raise UserError("--frame-dtype must be float32 or uint8, got {!r}".format(frame_dtype))
    if input_size is None:
        if overlay_alpha is not None:
            raise UserError("--fuse-overlay needs --fuse-pre --input-size WxH (the frame the overlay is drawn on)")
        if frame_dtype != "float32":
            raise UserError("--frame-dtype is for --input-size graphs; add --fuse-pre --input-size WxH")
        return None
    if not fuse_pre:
        raise UserError("--input-size WxH is the raw frame size of a --fuse-pre graph; add --fuse-pre")
    if overlay_alpha is not None and not 0.0 <= float(overlay_alpha) <= 1.0:
        raise UserError("--overlay-alpha must be between 0 and 1, got {}".format(overlay_alpha))
    if frame_dtype == "uint8":
        table = load_support(trt_version, support)
        if "UINT8" not in table.data_types:
            raise UserError("--frame-dtype uint8: TensorRT {} takes no UINT8 inputs; use float32 "
                            "(the default) or name a newer TensorRT with --trt".format(table.version))
    return (int(input_size[0]), int(input_size[1]))


def _holds_weights(path, entry, checkpoint_sha256):
    """True when ``path`` was exported from ``entry`` with the checkpoint of that sha256 (the zoo's, or a
    --weights file's; an architecture-only entry without weights has none): only then may it be reused."""
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    try:
        info = model_info(path)
    except UserError:
        return False
    if info.name == entry.name and info.checkpoint_sha256 == checkpoint_sha256:
        return True
    paths.note("not reusing {}: it was exported from {} (another checkpoint than {})".format(
        path, info.checkpoint_sha256 and "checkpoint sha256 " + info.checkpoint_sha256[:12] or "no checkpoint",
        "the zoo's " + entry.name if checkpoint_sha256 == entry.sha256 else "the --weights file"))
    return False


def _frame_graph_name(entry, size, frame_size, frame_dtype, overlay_alpha, weights_sha):
    """Cache name of an on-demand frame graph; a --weights checkpoint's graph carries its sha256 prefix."""
    name = artifact_name(entry.name, size, 1, fused_stages(True, False, overlay_alpha), frame_size=frame_size,
                         frame_dtype=frame_dtype, overlay_alpha=overlay_alpha)
    return name if weights_sha is None else name[:-len(".onnx")] + "-w{}.onnx".format(weights_sha[:12])


def _cache_folder():
    """The export cache, created; one line (naming $ESPNET_EDGE_CACHE, not an option) where it cannot be."""
    return ensure_writable_dir(paths.export_cache_dir(), None)


def ensure_onnx(entry, weights=None, size=None, batch=1, frame_size=None, frame_dtype="float32",
                overlay_alpha=defaults.OVERLAY_ALPHA, trt_version="8.2", images=None, create=True):
    """<model>-<W>x<H>.onnx for running a zoo model on a file backend: ./export's (what `espnet-edge
    export` wrote) or the cache's, else exported (and verified) into the cache first, with a note.
    An explicit ``weights`` file is always exported afresh.

    ``frame_size`` (W, H): the frame graph for frames of that size instead (`export --fuse-pre
    --input-size WxH --fuse-overlay --overlay-alpha A`, ``frame_dtype`` frames, checked for TensorRT
    ``trt_version``, verified on ``images``: paths or BGR frames, default a synthetic frame), found in
    ./export or the cache, else exported into the cache once; a ``weights`` file's graph is kept under
    a name with its sha256 and reused too. ``create=False``: only look (-> None when there is none).
    Exports into the cache hold a lock on the cache folder, so concurrent runs export it once; every file
    appears under its final name only when complete."""
    size = tuple(size or entry.input_size)
    if frame_size:
        from espnet_edge.utils.digest import sha256_of

        weights_sha = sha256_of(weights) if weights else None
        name = _frame_graph_name(entry, size, frame_size, frame_dtype, overlay_alpha, weights_sha)
        expected_sha = weights_sha or entry.sha256
    else:
        name, expected_sha = artifact_name(entry.name, size, batch), entry.sha256

    def reusable():
        folders = (default_out_dir(), paths.export_cache_dir()) if (frame_size or not weights) else ()
        for folder in folders:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and _holds_weights(candidate, entry, expected_sha):
                return candidate
        return None

    found = reusable()
    if found or not create:
        return found
    folder = _cache_folder()
    path = os.path.join(folder, name)
    with locked(folder):
        found = reusable()  # another run may have exported it while this one waited for the lock
        if found:
            return found
        what = "{} at {}x{}".format(entry.name, size[0], size[1])
        if frame_size:
            what = "the frame graph of {} from {}x{} {} frames (preprocessing and overlay in the graph)".format(
                what, frame_size[0], frame_size[1], frame_dtype)
        paths.note("exporting {} to {} (once; later runs reuse it)".format(what, path))
        frame = dict(fuse_pre=True, input_size=tuple(frame_size), frame_dtype=frame_dtype,
                     overlay_alpha=overlay_alpha, trt_version=trt_version, images=images) if frame_size else {}
        with Progress(len(EXPORT_STAGES), "export " + entry.name) as bar:
            export_model(entry, weights=weights, size=size, batch=batch, out_path=path, progress=bar.update, **frame)
    return path
