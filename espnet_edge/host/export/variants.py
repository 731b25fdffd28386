"""fp16 and INT8 (QDQ) variants of an exported fp32 graph, each checked against it on the CPU."""

import json
import os
import tempfile

import numpy as np

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.host.export.int8 import CALIB_METHODS
from espnet_edge.utils.atomic import write_json

MIN_CALIB_IMAGES = 2  # at least 1 to calibrate on (crops/mirrors add frames) and 1 held out
DEFAULT_CALIB_METHOD = defaults.CALIB_METHOD
DEFAULT_KEEP_FLOAT = defaults.INT8_KEEP_FLOAT


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


def export_fp16(fp32_path, images=None, trt_version=defaults.TRT_CHECK_VERSION, support=None,
                verify_limit=None):
    """Write ``<fp32>-fp16.onnx``; -> report dict (also written beside it)."""
    from espnet_edge.host.export.fp16 import float_tensor_types, to_fp16
    from espnet_edge.runtime.frame_nodes import frame_node_names
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
              "frame_nodes_fp32": len(frame_node_names(model)),  # the frame graph's own, exact in fp32 only
              "tensorrt_check": {"version": table.version, "matrix": table.source, "passed": True},
              "verification": dict(verification, reference="fp32 ONNX on onnxruntime CPU",
                                   backend="onnxruntime CPU")}
    write_json(report_path(path), report)
    return report


def split_calibration(paths, count=None):
    """Sorted image paths -> (calibration, held out): every 4th image is held out, and with fewer
    than 4 images the last one, so accuracy is always measured on an image not calibrated on."""
    if len(paths) < MIN_CALIB_IMAGES:
        raise UserError("INT8 calibration needs at least {} images (1 to calibrate, 1 held out to "
                        "measure accuracy); the folder has {}: add images like those the network "
                        "will see".format(MIN_CALIB_IMAGES, len(paths)))
    held = [p for i, p in enumerate(paths) if i % 4 == 3] or [paths[-1]]
    calib = [p for p in paths if p not in held]
    if count is not None:
        if count < 1:
            raise UserError("--calib-count must be at least 1")
        calib = calib[:count]
    return calib, held


def export_int8(fp32_path, calib_dir, calib_count=None, method=DEFAULT_CALIB_METHOD,
                trt_version=defaults.TRT_CHECK_VERSION, support=None, log=None, keep_float=DEFAULT_KEEP_FLOAT,
                augment=True, target=None, equalize=False):
    """Write ``<fp32>-int8.onnx`` (QDQ: symmetric int8, zero points 0, per-channel weights, Q/DQ on
    Conv inputs; the ``keep_float`` most sensitive Convs stay float; ``equalize``: cross-layer
    equalisation first); -> report dict."""
    from espnet_edge.host.export.calibration_data import AUGMENTATIONS, calibration_batches
    from espnet_edge.host.export.pipeline import ort_session, report_path
    from espnet_edge.host.export.verify import miou_vs_reference, network_input, to_classes
    from espnet_edge.images import list_images, read_image

    log = log or (lambda text: None)
    if method not in CALIB_METHODS:
        raise UserError("unknown calibration method {!r}; choose one of {}".format(
            method, ", ".join(CALIB_METHODS)))
    if keep_float is None or int(keep_float) < 0:
        raise UserError("--int8-float must be 0 or more (how many Convs to keep in float)")
    if not calib_dir or not os.path.isdir(calib_dir):
        raise UserError("--calib {} is not a folder of images; point it at real frames like those "
                        "the network will see".format(calib_dir))
    calib_paths, held_paths = split_calibration(list_images(calib_dir), calib_count)
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise UserError("INT8 export needs onnxruntime's quantization tools: pip install onnxruntime")
    from espnet_edge.host.export.int8 import quantize_qdq

    model = _load(fp32_path)
    info = _info(model, fp32_path)
    batches = calibration_batches(calib_paths, info, augment=augment)
    path = variant_path(fp32_path, "int8")
    log("calibrating INT8 ({}) on {} image(s) ({} frames{}), {} held out".format(
        method, len(calib_paths), len(batches), " with crops/mirrors" if augment else "", len(held_paths)))
    with tempfile.TemporaryDirectory(prefix="espnet-edge-int8-") as work:
        tmp = os.path.join(work, "int8.onnx")
        held_batches = None
        if target is not None:
            if not 0 < target <= 1:
                raise UserError("--int8-target is a fraction of pixels: 0 < target <= 1 (e.g. 0.99)")
            held_batches = [network_input(read_image(p), info) for p in held_paths]
        done = quantize_qdq(fp32_path, tmp, batches, method=method, keep_float=int(keep_float), log=log,
                            target=target, held_batches=held_batches, equalize=equalize)
        quantized = _load(tmp)
    entry = quantized.metadata_props.add()  # which Convs stay float travels with the graph
    entry.key, entry.value = "espnet_edge.int8_float_convs", json.dumps(done["float_convs"])
    table = _finish(quantized, info, path, "int8", trt_version, support)
    reference, candidate = ort_session(fp32_path), ort_session(path)
    ref_masks, cand_masks, per_image = [], [], []
    overlay = info if info.fused_overlay else None  # the class rows under the overlay, not its bytes
    for image in held_paths:
        batch = network_input(read_image(image), info)
        ref = to_classes(reference.run(None, {reference.get_inputs()[0].name: batch})[0], info.fused_post, overlay)
        got = to_classes(candidate.run(None, {candidate.get_inputs()[0].name: batch})[0], info.fused_post, overlay)
        ref_masks.append(ref)
        cand_masks.append(got)
        per_image.append({"image": image, "mask_agreement": float(np.mean(ref == got))})
    report = {
        "onnx": os.path.abspath(path), "from": os.path.abspath(fp32_path), "precision": "int8",
        "quantization": {"format": "QDQ", "activations": "int8 symmetric per tensor (zero point 0), "
                                                         "Q/DQ on Conv inputs only",
                         "weights": "int8 symmetric per output channel (axis 0)", "ops": ["Conv"],
                         "float_ops": ["ConvTranspose"] + (["{} sensitive Conv(s)".format(len(done["float_convs"]))]
                                                          if done["float_convs"] else []),
                         "method": method, "calibration_images": calib_paths,
                         "calibration_frames": len(batches),
                         "augmentation": [name + ("-mirrored" if mirrored else "")
                                          for name, mirrored in AUGMENTATIONS] if augment else None,
                         "convs": done["convs"], "float_convs": done["float_convs"],
                         "equalized": done.get("equalized"),
                         "sensitivity": done.get("sensitivity"),
                         "target": done.get("target"), "target_met": done.get("target_met"),
                         "search": done.get("search"), "layer_errors": done.get("layer_errors")},
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
