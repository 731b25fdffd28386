"""QDQ INT8 quantization the way TensorRT's explicit quantization takes it.

- Q/DQ on the *inputs* of Conv only (activation per tensor, weights per output channel on axis 0),
  never on a Conv's output: ONNX Runtime's QDQ quantizer by default also quantizes each Conv output,
  which puts an extra int8 rounding before every residual Add / Concat. Measured on ESPNetv2 s2.0
  (512x256, held-out Cityscapes frame) that alone took mask agreement from 0.88 to 0.96.
- symmetric int8, zero points 0, float biases (TensorRT 8.2 takes no INT32 DequantizeLinear);
  ConvTranspose (ESPNet's decoder) stays float; every consumer that is not an INT8 Conv reads the
  float tensor (``float_side_inputs``), and the first Conv reads raw pixels - 128 where those are
  integers (``int8_input``).
- mixed precision: the ``keep_float`` Convs whose quantization alone moves the fp32 mask most on the
  calibration frames (a one-Conv-at-a-time sensitivity scan) stay in float.
"""

import contextlib
import logging
import os

import numpy as np

from espnet_edge import defaults
from espnet_edge.runtime.frame_nodes import frame_node_names

CALIB_METHODS = ("minmax", "entropy", "percentile")
CALIB_CHUNK = 2  # calibration batches per onnxruntime calibrator pass (bounds memory)
SENSITIVITY_FRAMES = 2  # calibration batches the one-Conv-at-a-time scan is measured on
# Percentile calibration clips each activation at this percentile of |x|. ONNX Runtime's default
# (99.999) keeps rare outliers that cost resolution: on held-out Cityscapes frames 99.99 gave
# 0.962-0.992 mask agreement where 99.999 gave 0.946-0.990 and 99.9 0.929 (ESPNet q8, ESPNetv2 s2.0).
PERCENTILE = 99.99


class BatchReader(object):
    """onnxruntime CalibrationDataReader over preprocessed batches (rewindable)."""

    def __init__(self, input_name, batches):
        self.input_name = input_name
        self.batches = list(batches)
        self.position = 0

    def get_next(self):
        if self.position >= len(self.batches):
            return None
        self.position += 1
        return {self.input_name: self.batches[self.position - 1]}

    def rewind(self):
        self.position = 0


@contextlib.contextmanager
def _quiet():
    """onnxruntime's quantizer prints progress and logs advice on every call; the scan calls it
    once per Conv."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield
    finally:
        root.setLevel(level)


def conv_names(model):
    """The network's Convs: a frame graph's own (its preprocessing, exact only in float32) never
    count, are never scanned and never quantized."""
    frame = frame_node_names(model)
    return [node.name for node in model.graph.node if node.op_type == "Conv" and node.name not in frame]


def _quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_quantize=None,
              nodes_to_exclude=None, lossless_input=True):
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    fp32 = onnx.load(fp32_path)
    frame = frame_node_names(fp32)
    frame_convs = sorted(n.name for n in fp32.graph.node if n.op_type == "Conv" and n.name in frame)
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
             "OpTypesToExcludeOutputQuantization": ["Conv"]}
    if method == "percentile":
        extra["CalibPercentile"] = PERCENTILE
    with _quiet():
        quantize_static(
            fp32_path, out_path, BatchReader(input_name, batches), quant_format=QuantFormat.QDQ,
            per_channel=True, reduce_range=False, activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
            nodes_to_quantize=nodes_to_quantize, nodes_to_exclude=list(nodes_to_exclude or []) + frame_convs,
            calibrate_method=_method(method), calibration_cache_path=cache_path,
            extra_options=extra)
    from espnet_edge.host.export.int8_input import fold_input
    from espnet_edge.host.export.pipeline import save_model
    from espnet_edge.host.export.variants import _info

    model = onnx.load(out_path)
    float_side_inputs(model)
    info = _info(fp32, fp32_path)
    if lossless_input and not info.fused_pre and not info.frame_size:
        fold_input(model, fp32, info.preprocess, info.input_layout)
    save_model(model, out_path)


def float_side_inputs(model):
    """Give every consumer of a quantized activation other than an INT8 Conv the float tensor back;
    -> number of inputs rewired. Edits ``model`` in place.

    onnxruntime's QDQ quantizer points *all* consumers of a Conv's input at its DequantizeLinear
    (``replace_input_of_all_nodes``), so a residual Add or Concat reading the same tensor, and a Conv
    kept in float that shares it, would compute on the int8-rounded copy. TensorRT quantizes what
    follows a DequantizeLinear; the float consumers should see the float tensor."""
    from espnet_edge.host.export.int8_input import drop_unused_qdq

    producer = {out: node for node in model.graph.node for out in node.output}
    initializers = set(init.name for init in model.graph.initializer)

    def dequantized(name):  # DQ output -> the float tensor its Q read, for activations only
        dq = producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] in initializers:
            return None
        q = producer.get(dq.input[0])
        return q.input[0] if q is not None and q.op_type == "QuantizeLinear" else None

    def int8_conv(node):
        return (node.op_type == "Conv" and len(node.input) > 1
                and getattr(producer.get(node.input[1]), "op_type", None) == "DequantizeLinear")

    rewired = 0
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") or int8_conv(node):
            continue
        for index, name in enumerate(node.input):
            source = dequantized(name)
            if source is not None:
                node.input[index] = source
                rewired += 1
    drop_unused_qdq(model.graph)
    return rewired


def folded_input_convs(qdq_path):
    """Convs of a QDQ graph that read raw pixels - 128 (``int8_input.fold_input``)."""
    import onnx

    from espnet_edge.host.export.int8_input import PIXELS

    return [n.name for n in onnx.load(qdq_path).graph.node if n.op_type == "Conv" and n.input[0] == PIXELS]


def calibrate(fp32_path, batches, input_name, method, cache_path, work, progress=None):
    """Activation ranges of every Conv input, written to ``cache_path`` (onnxruntime's calibration
    cache, which ``quantize_static`` then reuses). The batches go through in chunks of
    CALIB_CHUNK: onnxruntime's calibrators keep every intermediate tensor of what they are given,
    and 84 frames (6 images with their crops/mirrors) at 1024x512 took > 24 GB at once."""
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    options = {"percentile": PERCENTILE} if method == "percentile" else {}
    calibrator = create_calibrator(fp32_path, ["Conv"], augmented_model_path=os.path.join(work, "augmented.onnx"),
                                   calibrate_method=_method(method), extra_options=options)
    with _quiet():
        for start in range(0, len(batches), CALIB_CHUNK):
            calibrator.collect_data(BatchReader(input_name, batches[start:start + CALIB_CHUNK]))
            if progress is not None:
                progress.update(len(batches[start:start + CALIB_CHUNK]))
        save_tensors_data(calibrator.compute_data(), cache_path)


def _method(method):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[method]


def _classes(session, batch):
    output = session.run(None, {session.get_inputs()[0].name: batch})[0]
    if np.issubdtype(output.dtype, np.integer):  # --fuse-post graphs already give the class map
        return output
    return np.argmax(output, axis=1)


def sensitivity(fp32_path, convs, batches, input_name, method, work, cache_path, progress=None):
    """-> [(agreement, conv name)], least agreement first: each Conv in ``convs`` quantized alone,
    the mask of the first SENSITIVITY_FRAMES calibration batches compared with fp32."""
    from espnet_edge.host.export.pipeline import ort_session

    frames = batches[:SENSITIVITY_FRAMES]
    reference = ort_session(fp32_path)
    expected = [_classes(reference, batch) for batch in frames]
    scores = []
    tmp = os.path.join(work, "one-conv.onnx")
    for name in convs:
        _quantize(fp32_path, tmp, batches, input_name, method, cache_path, nodes_to_quantize=[name])
        session = ort_session(tmp)
        agreement = float(np.mean([np.mean(_classes(session, batch) == ref)
                                   for batch, ref in zip(frames, expected)]))
        scores.append((agreement, name))
        if progress is not None:
            progress.update()
    scores.sort(key=lambda item: item[0])
    return scores


def quantize_qdq(fp32_path, out_path, batches, method=defaults.CALIB_METHOD, keep_float=0, log=None, target=None,
                 held_batches=None, equalize=False):
    """Write the QDQ INT8 graph of ``fp32_path`` to ``out_path``; -> dict of what was done.

    With ``target`` (a mask-agreement fraction) and ``held_batches`` (frames never calibrated on) the
    Convs kept in float are chosen automatically (``choose_float_convs`` over the ``layer_errors``
    order) instead of the ``keep_float`` most sensitive ones. ``equalize``: cross-layer equalisation
    of the activations Convs alone read first (``int8_equalize``; exact in float)."""
    import tempfile

    import onnx

    from espnet_edge.utils.progress import Progress

    log = log or (lambda text: None)
    model = onnx.load(fp32_path)
    input_name = model.graph.input[0].name
    convs = conv_names(model)
    keep_float = max(0, min(int(keep_float or 0), len(convs)))
    with tempfile.TemporaryDirectory(prefix="espnet-edge-int8-") as work:
        equalized = {}
        if equalize:
            from espnet_edge.host.export.int8_equalize import equalize as equalize_activations
            from espnet_edge.host.export.pipeline import save_model

            equalized = equalize_activations(model, batches)
            fp32_path = save_model(model, os.path.join(work, "equalized.onnx"))
            log("INT8: equalised {} activation(s) read by Convs only".format(len(equalized)))
        cache = os.path.join(work, "ranges.json")  # calibrate once, reuse for every quantization
        kept, scan = [], []
        with Progress(len(batches), "calibrating") as progress:
            calibrate(fp32_path, batches, input_name, method, cache, work, progress)
        if target is not None:
            if not held_batches:
                from espnet_edge.errors import UserError

                raise UserError("an INT8 agreement target needs held-out frames to measure it on")
            all_int8 = os.path.join(work, "all-int8.onnx")
            _quantize(fp32_path, all_int8, batches, input_name, method, cache)
            errors = layer_errors(fp32_path, all_int8, batches[:SENSITIVITY_FRAMES])
            # the order: each Conv quantized alone on calibration frames (the tensor noise a Conv injects
            # ranked ESPNet's decisive Convs last at 1024x512; see docs/export.md)
            log("INT8 sensitivity scan: {} Conv(s), one at a time".format(len(convs)))
            with Progress(len(convs), "sensitivity") as progress:
                scan = sensitivity(fp32_path, convs, batches, input_name, method, work, cache, progress)
            log("INT8: keeping Convs in float until {:.2%} held-out mask agreement with fp32".format(target))
            chosen = choose_float_convs(fp32_path, out_path, batches, held_batches, [name for _, name in scan],
                                        method, cache, target=target, log=log)
            return {"convs": len(convs), "float_convs": chosen["float_convs"], "target": target,
                    "equalized": sorted(equalized),
                    "target_met": chosen["target_met"], "heldout_agreement": chosen["agreement"],
                    "search": [{"float_convs": k, "agreement": a} for k, a in chosen["trace"]],
                    "sensitivity": [{"conv": name, "mask_agreement_alone": score} for score, name in scan[:10]],
                    "layer_errors": errors[:20]}
        if keep_float:
            log("INT8 sensitivity scan: {} Conv(s), one at a time, to keep the {} most sensitive in "
                "float".format(len(convs), keep_float))
            with Progress(len(convs), "sensitivity") as progress:
                scan = sensitivity(fp32_path, convs, batches, input_name, method, work, cache, progress)
            kept = [name for _, name in scan[:keep_float]]
        _quantize(fp32_path, out_path, batches, input_name, method, cache, nodes_to_exclude=kept)
    return {"convs": len(convs), "float_convs": kept, "equalized": sorted(equalized),
            "sensitivity": [{"conv": name, "mask_agreement_alone": score} for score, name in scan[:10]]}


# --- accuracy-aware INT8: per-layer errors, per-class IoU, float layers chosen for a target -------
DEFAULT_TARGET = 0.99  # held-out mask agreement with fp32 the automatic choice aims for
LAYER_CHUNK = 12  # Convs whose tensors are exposed per onnxruntime run (bounds memory at 1024x512)


def _relative_error(reference, candidate):
    reference = reference.astype(np.float64)
    scale = np.linalg.norm(reference)
    return float(np.linalg.norm(candidate.astype(np.float64) - reference) / (scale if scale > 0 else 1.0))


def _with_outputs(model, names):
    """Copy of ``model`` with the tensors ``names`` added as graph outputs (serialized bytes)."""
    import onnx
    from onnx import TensorProto, helper

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    have = set(o.name for o in copy.graph.output)
    for name in names:
        if name not in have:
            copy.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return copy.SerializeToString()


def _qdq_conv_inputs(qdq):
    """Conv output name -> (fp32 activation before QuantizeLinear, its DequantizeLinear output,
    weight DequantizeLinear output or None) in a QDQ graph."""
    producer = {out: node for node in qdq.graph.node for out in node.output}
    found = {}
    for node in qdq.graph.node:
        if node.op_type != "Conv":
            continue
        act_dq = producer.get(node.input[0])
        if act_dq is None or act_dq.op_type != "DequantizeLinear":
            continue
        act_q = producer.get(act_dq.input[0])
        weight_dq = producer.get(node.input[1])
        found[node.output[0]] = (act_q.input[0] if act_q is not None else None, node.input[0],
                                 node.input[1] if weight_dq is not None and weight_dq.op_type == "DequantizeLinear"
                                 else None)
    return found


def layer_errors(fp32_path, qdq_path, batches, progress=None):
    """Polygraphy-style comparison of every Conv's tensors in the fp32 and QDQ graphs, on ``batches``.

    -> [{'conv', 'input_error', 'output_error', 'activation_noise', 'weight_noise', 'injected'}],
    largest ``injected`` first. ``input_error``/``output_error``: relative L2 error of the Conv's input
    and output in the QDQ graph against fp32 (what has accumulated there). ``activation_noise``: the
    relative error int8 rounding (and clipping) adds to this Conv's input, measured inside the QDQ graph
    (QuantizeLinear input vs DequantizeLinear output), so upstream error does not count;
    ``weight_noise``: the same for its weights. ``injected`` is their sum: what this Conv's
    quantization itself costs, the order in which Convs go back to float. A Conv reading the folded
    raw-pixel input (``int8_input``) has no activation noise; its weights are compared with the
    folded float weights.
    """
    import onnx
    from onnx import numpy_helper

    from espnet_edge.host.export.pipeline import ort_session

    from espnet_edge.host.export.int8_input import PIXELS, fold_weights, normalisation_affine
    from espnet_edge.host.export.variants import _info

    fp32, qdq = onnx.load(fp32_path), onnx.load(qdq_path)
    input_name = fp32.graph.input[0].name
    weights = {init.name: numpy_helper.to_array(init) for init in fp32.graph.initializer}
    folded = set(n.output[0] for n in qdq.graph.node if n.op_type == "Conv" and n.input[0] == PIXELS)
    if folded:  # their int8 weights are the folded ones (int8_input): compare with those in float
        affine = normalisation_affine(_info(fp32, fp32_path).preprocess)
        weights.update((n.input[1], fold_weights(weights[n.input[1]], *affine)) for n in fp32.graph.node
                       if n.op_type == "Conv" and n.output[0] in folded)
    qdq_inputs = _qdq_conv_inputs(qdq)
    network_convs = set(conv_names(fp32))
    convs = [(n.name, n.input[0], n.output[0], n.input[1]) for n in fp32.graph.node if n.name in network_convs]
    graph_inputs = set(i.name for i in fp32.graph.input)
    totals = {name: [0.0, 0.0, 0.0, 0.0] for name, _, _, _ in convs}
    for start in range(0, len(convs), LAYER_CHUNK):
        chunk = convs[start:start + LAYER_CHUNK]
        names = sorted(set(t for _, i, o, _ in chunk for t in (i, o) if t not in graph_inputs))
        extra = sorted(set(t for _, _, o, _ in chunk for t in qdq_inputs.get(o, ())
                           if t and t not in graph_inputs) - set(names))
        ref_session = ort_session(_with_outputs(fp32, names))
        qdq_session = ort_session(_with_outputs(qdq, names + extra))
        ref_names = [o.name for o in ref_session.get_outputs()]
        qdq_names = [o.name for o in qdq_session.get_outputs()]
        for batch in batches:
            ref = dict(zip(ref_names, ref_session.run(ref_names, {input_name: batch})))
            ref[input_name] = batch
            got = dict(zip(qdq_names, qdq_session.run(qdq_names, {input_name: batch})))
            got[input_name] = batch
            for name, conv_in, conv_out, weight in chunk:
                row = totals[name]
                row[0] += _relative_error(ref[conv_in], got[conv_in])
                row[1] += _relative_error(ref[conv_out], got[conv_out])
                before, after, weight_dq = qdq_inputs.get(conv_out, (None, None, None))
                if before and after:
                    row[2] += _relative_error(got[before], got[after])
                if weight_dq and weight in weights:
                    row[3] += _relative_error(weights[weight], got[weight_dq])
        if progress is not None:
            progress.update(len(chunk))
    rows = []
    for name, _, _, _ in convs:
        err_in, err_out, act, wgt = (v / len(batches) for v in totals[name])
        rows.append({"conv": name, "input_error": err_in, "output_error": err_out, "activation_noise": act,
                     "weight_noise": wgt, "injected": act + wgt})
    rows.sort(key=lambda row: -row["injected"])
    return rows


def class_maps(path, batches):
    from espnet_edge.host.export.pipeline import ort_session

    session = ort_session(path)
    return [_classes(session, batch) for batch in batches]


def agreement(reference_maps, maps):
    """Pixel fraction where the class maps agree, pooled over all frames."""
    same = sum(int(np.sum(a == b)) for a, b in zip(reference_maps, maps))
    return same / float(sum(a.size for a in reference_maps))


def per_class_iou(reference_maps, maps, classes):
    """IoU of each class of ``maps`` against ``reference_maps`` (fp32); None where neither has it."""
    from espnet_edge.apps.metrics import confusion_matrix, per_class_iou as iou_of

    count = len(classes)
    conf = sum(confusion_matrix(a.ravel(), b.ravel(), count, count) for a, b in zip(reference_maps, maps))
    return {name: (None if np.isnan(v) else float(v)) for name, v in zip(classes, iou_of(conf))}


def choose_float_convs(fp32_path, out_path, batches, held_batches, order, method, cache_path, target=DEFAULT_TARGET,
                       reference_maps=None, log=None):
    """Keep the first k Convs of ``order`` in float, with the smallest k whose QDQ graph reaches
    ``target`` mask agreement with fp32 on ``held_batches`` (frames never calibrated on); k found by
    bisection (agreement grows with k, checked at the end). Writes that graph to ``out_path``.

    -> {'float_convs', 'agreement', 'target_met', 'trace': [(k, agreement)]}."""
    import onnx

    log = log or (lambda text: None)
    input_name = onnx.load(fp32_path).graph.input[0].name
    reference_maps = reference_maps or class_maps(fp32_path, held_batches)
    tried = {}

    def measure(k):
        if k not in tried:
            _quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_exclude=order[:k])
            tried[k] = agreement(reference_maps, class_maps(out_path, held_batches))
            log("  {} Conv(s) in float: held-out mask agreement {:.4f}".format(k, tried[k]))
        return tried[k]

    low, high = 0, len(order)
    if measure(0) >= target:
        best = 0
    elif measure(high) < target:
        best = high
    else:
        while high - low > 1:  # measure(low) < target <= measure(high)
            mid = (low + high) // 2
            if measure(mid) >= target:
                high = mid
            else:
                low = mid
        best = high
    _quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_exclude=order[:best])
    final = tried[best]
    return {"float_convs": list(order[:best]), "agreement": final, "target_met": final >= target,
            "trace": sorted(tried.items())}


def split_frames(paths):
    """Real frames -> (calibration, held out): within each folder, sorted, alternate frames (the 1st,
    3rd, ... calibrate; the 2nd, 4th, ... are held out), so both sets see every kind of scene and
    accuracy is never measured on a frame that was calibrated on."""
    groups = {}
    for path in sorted(paths):
        groups.setdefault(os.path.dirname(path), []).append(path)
    calib, held = [], []
    for folder in sorted(groups):
        for index, path in enumerate(groups[folder]):
            (calib if index % 2 == 0 else held).append(path)
    return calib, held


def plot_class_iou(path, classes, series, title):
    """Grouped bars: per-class IoU against fp32 for each ``series`` {label: {class: iou or None}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from espnet_edge.utils.atomic import atomic_path

    shown = [c for c in classes if any(s.get(c) is not None for s in series.values())]
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(shown) + 2), 4.2))
    for i, (label, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2.0) * width for j in range(len(shown))]
        ys = [values.get(c) if values.get(c) is not None else 0.0 for c in shown]
        ax.bar(xs, ys, width=width, label=label)
    ax.set_xticks(range(len(shown)))
    ax.set_xticklabels(shown, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("IoU against the fp32 mask")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
