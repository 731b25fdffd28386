"""QDQ INT8 quantization the way TensorRT's explicit quantization takes it.

- Q/DQ on the *inputs* of Conv only (activation per tensor, weights per output channel on axis 0),
  never on a Conv's output: ONNX Runtime's QDQ quantizer by default also quantizes each Conv output,
  which puts an extra int8 rounding before every residual Add / Concat. Measured on ESPNetv2 s2.0
  (512x256, held-out Cityscapes frame) that alone took mask agreement from 0.88 to 0.96.
- symmetric int8, zero points 0, float biases (TensorRT 8.2 takes no INT32 DequantizeLinear);
  ConvTranspose (ESPNet's decoder) stays float.
- mixed precision: the ``keep_float`` Convs whose quantization alone moves the fp32 mask most on the
  calibration frames (a one-Conv-at-a-time sensitivity scan) stay in float.
"""

import contextlib
import logging
import os

import numpy as np

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
    return [node.name for node in model.graph.node if node.op_type == "Conv"]


def _quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_quantize=None,
              nodes_to_exclude=None):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
             "OpTypesToExcludeOutputQuantization": ["Conv"]}
    if method == "percentile":
        extra["CalibPercentile"] = PERCENTILE
    with _quiet():
        quantize_static(
            fp32_path, out_path, BatchReader(input_name, batches), quant_format=QuantFormat.QDQ,
            per_channel=True, reduce_range=False, activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
            nodes_to_quantize=nodes_to_quantize, nodes_to_exclude=nodes_to_exclude or [],
            calibrate_method=_method(method), calibration_cache_path=cache_path,
            extra_options=extra)


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


def quantize_qdq(fp32_path, out_path, batches, method="percentile", keep_float=0, log=None):
    """Write the QDQ INT8 graph of ``fp32_path`` to ``out_path``; -> dict of what was done."""
    import tempfile

    import onnx

    from espnet_edge.utils.progress import Progress

    log = log or (lambda text: None)
    model = onnx.load(fp32_path)
    input_name = model.graph.input[0].name
    convs = conv_names(model)
    keep_float = max(0, min(int(keep_float or 0), len(convs)))
    with tempfile.TemporaryDirectory(prefix="espnet-edge-int8-") as work:
        cache = os.path.join(work, "ranges.json")  # calibrate once, reuse for every quantization
        kept, scan = [], []
        with Progress(len(batches), "calibrating") as progress:
            calibrate(fp32_path, batches, input_name, method, cache, work, progress)
        if keep_float:
            log("INT8 sensitivity scan: {} Conv(s), one at a time, to keep the {} most sensitive in "
                "float".format(len(convs), keep_float))
            with Progress(len(convs), "sensitivity") as progress:
                scan = sensitivity(fp32_path, convs, batches, input_name, method, work, cache, progress)
            kept = [name for _, name in scan[:keep_float]]
        _quantize(fp32_path, out_path, batches, input_name, method, cache, nodes_to_exclude=kept)
    return {"convs": len(convs), "float_convs": kept,
            "sensitivity": [{"conv": name, "mask_agreement_alone": score} for score, name in scan[:10]]}
