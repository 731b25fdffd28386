"""The QDQ INT8 graph itself: calibration ranges, one quantization with a given set of float Convs, and
the class maps and mask comparisons every INT8 check is built on.

- Q/DQ on the *inputs* of Conv only (activation per tensor, weights per output channel on axis 0),
  never on a Conv's output: ONNX Runtime's QDQ quantizer by default also quantizes each Conv output,
  which puts an extra int8 rounding before every residual Add / Concat. Measured on ESPNetv2 s2.0
  (512x256, held-out Cityscapes frame) that alone took mask agreement from 0.88 to 0.96.
- symmetric int8, zero points 0, float biases (TensorRT 8.2 takes no INT32 DequantizeLinear);
  ConvTranspose (ESPNet's decoder) stays float; every consumer that is not an INT8 Conv reads the
  float tensor (``float_side_inputs``), and the first Conv reads raw pixels - 128 where those are
  integers (``int8_input``).

Which Convs stay float is decided above this module (``int8.quantize_qdq``).
"""

import contextlib
import logging
import os

import numpy as np

from espnet_edge.runtime.frame_nodes import frame_node_names

CALIB_METHODS = ("minmax", "entropy", "percentile")
CALIB_CHUNK = 2  # calibration batches per onnxruntime calibrator pass (bounds memory)
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


def quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_quantize=None,
             nodes_to_exclude=None, lossless_input=True):
    """Write the QDQ graph of ``fp32_path`` with the ranges of ``cache_path`` (``calibrate``); the
    Convs in ``nodes_to_exclude`` stay float (``nodes_to_quantize``: only those are INT8)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from espnet_edge.host.export.int8_input import fold_input
    from espnet_edge.host.export.pipeline import save_model
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

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
    model = onnx.load(out_path)
    float_side_inputs(model)
    info = model_info(fp32_path)
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

    rewired = 0
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") or _int8_conv(node, producer):
            continue
        for index, name in enumerate(node.input):
            source = dequantized(name)
            if source is not None:
                node.input[index] = source
                rewired += 1
    drop_unused_qdq(model.graph)
    return rewired


def _int8_conv(node, producer):
    return (node.op_type == "Conv" and len(node.input) > 1
            and getattr(producer.get(node.input[1]), "op_type", None) == "DequantizeLinear")


def float_convs_of(model):
    """Names of the network Convs of a QDQ ``model`` whose weights are not int8."""
    producer = {out: node for node in model.graph.node for out in node.output}
    network = set(conv_names(model))
    return [n.name for n in model.graph.node if n.name in network and not _int8_conv(n, producer)]


def folded_input_convs(qdq_path):
    """Convs of a QDQ graph that read raw pixels - 128 (``int8_input.fold_input``)."""
    import onnx

    from espnet_edge.host.export.int8_input import PIXELS

    return [n.name for n in onnx.load(qdq_path).graph.node if n.op_type == "Conv" and n.input[0] == PIXELS]


def calibrate(fp32_path, batches, input_name, method, cache_path, work, progress=None):
    """Activation ranges of every Conv input, written to ``cache_path`` (onnxruntime's calibration
    cache, which ``quantize`` then reuses). The batches go through in chunks of CALIB_CHUNK:
    onnxruntime's calibrators keep every intermediate tensor of what they are given, and 84 frames
    (6 images with their crops/mirrors) at 1024x512 took > 24 GB at once."""
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


def classes_of(session, batch, info):
    """The class map of one batch: argmax of the logits, the map a --fuse-post graph outputs, or the
    class rows under a --fuse-overlay graph's overlay."""
    from espnet_edge.host.export.verify import to_classes

    output = session.run(None, {session.get_inputs()[0].name: batch})[0]
    return to_classes(output, info.fused_post, info if info.fused_overlay else None)


def class_maps(path, batches):
    """Class maps of the ONNX graph at ``path`` (its espnet-edge metadata says what it outputs)."""
    from espnet_edge.host.export.pipeline import ort_session
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    info = model_info(path)
    session = ort_session(path)
    return [classes_of(session, batch, info) for batch in batches]


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


def with_outputs(model, names):
    """Copy of ``model`` with the tensors ``names`` added as graph outputs (serialized bytes), to read
    intermediate tensors in ONNX Runtime."""
    from onnx import ModelProto, TensorProto, helper

    copy = ModelProto()
    copy.CopyFrom(model)
    have = set(o.name for o in copy.graph.output)
    for name in names:
        if name not in have:
            copy.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return copy.SerializeToString()
