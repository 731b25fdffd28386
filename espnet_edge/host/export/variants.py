"""fp16 and INT8 (QDQ) variants of an exported fp32 graph, each checked against it on the CPU."""

import os
import tempfile

import numpy as np

from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import write_json

MIN_CALIB_IMAGES = 4  # at least 3 to calibrate on and 1 held out to measure accuracy
CALIB_METHODS = ("minmax", "entropy", "percentile")


def _load(path):
    import onnx

    return onnx.load(path)


def _info(model, path):
    from espnet_edge.runtime.model_info import ModelInfo

    return ModelInfo.from_metadata(dict((p.key, p.value) for p in model.metadata_props),
                                   source="ONNX file " + path)


def _finish(model, info, path, precision, trt_version, support):
    from espnet_edge.host.export.pipeline import save_model, set_metadata
    from espnet_edge.runtime import trt_support

    info.precision = precision
    set_metadata(model, info)
    table = trt_support.require_supported(model, trt_version, support, what=os.path.basename(path))
    save_model(model, path)
    return table


def variant_path(fp32_path, precision):
    base = fp32_path[:-5] if fp32_path.endswith(".onnx") else fp32_path
    return "{}-{}.onnx".format(base, precision)


def export_fp16(fp32_path, images=None, trt_version="8.2", support=None, verify_limit=None):
    """Write ``<fp32>-fp16.onnx``; -> report dict (also written beside it)."""
    from espnet_edge.host.export.fp16 import float_tensor_types, to_fp16
    from espnet_edge.host.export.pipeline import ort_session, report_path
    from espnet_edge.host.export.verify import verify_against_onnx

    model = _load(fp32_path)
    info = _info(model, fp32_path)
    half = to_fp16(model)
    path = variant_path(fp32_path, "fp16")
    table = _finish(half, info, path, "fp16", trt_version, support)
    verification = verify_against_onnx(ort_session(fp32_path), ort_session(path), info, images, verify_limit)
    report = {"onnx": os.path.abspath(path), "from": os.path.abspath(fp32_path), "precision": "fp16",
              "io": "float32", "tensors": float_tensor_types(half),
              "tensorrt_check": {"version": table.version, "matrix": table.source, "passed": True},
              "verification": dict(verification, reference="fp32 ONNX on onnxruntime CPU",
                                   backend="onnxruntime CPU")}
    write_json(report_path(path), report)
    return report


class _Reader(object):
    """onnxruntime CalibrationDataReader over preprocessed frames."""

    def __init__(self, input_name, batches):
        self.input_name = input_name
        self.batches = iter(batches)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self):
        pass


def split_calibration(paths, count=None):
    """Sorted image paths -> (calibration, held out): every 4th image is held out."""
    if len(paths) < MIN_CALIB_IMAGES:
        raise UserError("INT8 calibration needs at least {} images (3 to calibrate, 1 held out to "
                        "measure accuracy); the folder has {}: add images like those the network "
                        "will see".format(MIN_CALIB_IMAGES, len(paths)))
    held = [p for i, p in enumerate(paths) if i % 4 == 3]
    calib = [p for i, p in enumerate(paths) if i % 4 != 3]
    if count:
        if count < 1:
            raise UserError("--calib-count must be at least 1")
        calib = calib[:count]
    return calib, held


def export_int8(fp32_path, calib_dir, calib_count=None, method="minmax", trt_version="8.2",
                support=None, log=None):
    """Write ``<fp32>-int8.onnx`` (QDQ: symmetric int8, zero points 0, per-channel weights)."""
    from espnet_edge.host.export.pipeline import ort_session, report_path
    from espnet_edge.host.export.verify import miou_vs_reference, network_input, to_classes
    from espnet_edge.images import list_images, read_image

    log = log or (lambda text: None)
    if method not in CALIB_METHODS:
        raise UserError("unknown calibration method {!r}; choose one of {}".format(
            method, ", ".join(CALIB_METHODS)))
    if not calib_dir or not os.path.isdir(calib_dir):
        raise UserError("--calib {} is not a folder of images; point it at real frames like those "
                        "the network will see".format(calib_dir))
    calib_paths, held_paths = split_calibration(list_images(calib_dir), calib_count)
    try:
        from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
    except ImportError:
        raise UserError("INT8 export needs onnxruntime's quantization tools: pip install onnxruntime")
    model = _load(fp32_path)
    info = _info(model, fp32_path)
    batches = [network_input(read_image(p), info) for p in calib_paths]
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    path = variant_path(fp32_path, "int8")
    log("calibrating INT8 ({}) on {} image(s), {} held out".format(method, len(calib_paths), len(held_paths)))
    with tempfile.TemporaryDirectory(prefix="espnet-edge-int8-") as work:
        tmp = os.path.join(work, "int8.onnx")
        quantize_static(
            fp32_path, tmp, _Reader(model.graph.input[0].name, batches), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"], calibrate_method=methods[method],
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                           "QuantizeBias": False})  # TensorRT keeps biases in float
        quantized = _load(tmp)
    table = _finish(quantized, info, path, "int8", trt_version, support)
    reference, candidate = ort_session(fp32_path), ort_session(path)
    ref_masks, cand_masks, per_image = [], [], []
    for image in held_paths:
        batch = network_input(read_image(image), info)
        ref = to_classes(reference.run(None, {reference.get_inputs()[0].name: batch})[0], info.fused_post)
        got = to_classes(candidate.run(None, {candidate.get_inputs()[0].name: batch})[0], info.fused_post)
        ref_masks.append(ref)
        cand_masks.append(got)
        per_image.append({"image": image, "mask_agreement": float(np.mean(ref == got))})
    report = {
        "onnx": os.path.abspath(path), "from": os.path.abspath(fp32_path), "precision": "int8",
        "quantization": {"format": "QDQ", "activations": "int8 symmetric (zero point 0)",
                         "weights": "int8 symmetric per-channel", "ops": ["Conv"], "method": method,
                         "calibration_images": calib_paths},
        "tensorrt_check": {"version": table.version, "matrix": table.source, "passed": True},
        "verification": {"reference": "fp32 ONNX on onnxruntime CPU", "held_out_images": len(held_paths),
                         "mask_agreement_min": min(r["mask_agreement"] for r in per_image),
                         "mask_agreement_mean": float(np.mean([r["mask_agreement"] for r in per_image])),
                         "miou_vs_fp32": miou_vs_reference(ref_masks, cand_masks, info.num_classes),
                         "per_image": per_image},
        "note": "Jetson TX2 (Pascal, sm_62) has no fast INT8 path: expect no speed-up there; "
                "Xavier/Orin run INT8 on tensor cores and DLA",
    }
    write_json(report_path(path), report)
    return report
