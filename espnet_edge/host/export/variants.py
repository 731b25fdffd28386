"""fp16 and INT8 (QDQ) variants of an exported fp32 graph, each checked against it on the CPU."""

import json
import os
import tempfile

import numpy as np

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.host.export.int8_qdq import CALIB_METHODS
from espnet_edge.runtime.tensorrt.onnxmeta import model_info
from espnet_edge.utils.atomic import write_json

MIN_CALIB_IMAGES = 2  # at least 1 to calibrate on (crops/mirrors add frames) and 1 held out
DEFAULT_CALIB_METHOD = defaults.CALIB_METHOD
DEFAULT_TARGET = defaults.INT8_TARGET  # held-out mask agreement the float Convs are chosen for
DEFAULT_MAX_MIOU_DROP = defaults.INT8_MAX_MIOU_DROP  # the same with labelled images: mIoU points


def _load(path):
    import onnx

    return onnx.load(path)


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
    info = model_info(fp32_path)
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


def check_int8_options(method=DEFAULT_CALIB_METHOD, keep_float=None, target=None, max_miou_drop=None, labels=None):
    """One line for a bad combination, before any work (the CLI's parser checks each value's type)."""
    if method not in CALIB_METHODS:
        raise UserError("unknown calibration method {!r}; choose one of {}".format(method, ", ".join(CALIB_METHODS)))
    if keep_float is not None and int(keep_float) < 0:
        raise UserError("--int8-float must be 0 or more (how many Convs to keep in float)")
    if target is not None and not 0 < target <= 1:
        raise UserError("--int8-target is a fraction of pixels: 0 < target <= 1 (e.g. 0.99)")
    if max_miou_drop is not None and max_miou_drop < 0:
        raise UserError("--int8-target-miou-drop is in mIoU points, 0 or more (e.g. 0.5)")
    if max_miou_drop is not None and labels is None:
        raise UserError("--int8-target-miou-drop needs labelled images to measure mIoU on: add --int8-labels DIR")
    chosen = [flag for flag, value in (("--int8-float", keep_float), ("--int8-target", target),
                                        ("--int8-target-miou-drop", max_miou_drop)) if value is not None]
    if len(chosen) > 1:
        raise UserError("{} each decide how many Convs stay float; give one".format(" and ".join(chosen)))


def export_int8(fp32_path, calib_dir, calib_count=None, method=DEFAULT_CALIB_METHOD,
                trt_version=defaults.TRT_CHECK_VERSION, support=None, log=None, keep_float=None, augment=True,
                target=None, equalize=False, labels=None, max_miou_drop=None):
    """Write ``<fp32>-int8.onnx`` (QDQ: symmetric int8, zero points 0, per-channel weights, Q/DQ on
    Conv inputs; ``equalize``: cross-layer equalisation first); -> report dict.

    Which Convs stay float: ``keep_float`` N, the N the sensitivity scan finds most sensitive; else the
    fewest that meet a target on images never calibrated on: ``max_miou_drop`` (mIoU points, default
    DEFAULT_MAX_MIOU_DROP) on ``labels`` (an apps.datasets.Dataset) when given, else ``target``
    (mask agreement with fp32, default DEFAULT_TARGET) on the held-out calibration images."""
    from espnet_edge.host.export.calibration_data import calibration_batches, views_per_image
    from espnet_edge.host.export.pipeline import report_path
    from espnet_edge.images import list_images

    log = log or (lambda text: None)
    check_int8_options(method, keep_float, target, max_miou_drop, labels)
    if not calib_dir or not os.path.isdir(calib_dir):
        raise UserError("--calib {} is not a folder of images; point it at real frames like those "
                        "the network will see".format(calib_dir))
    calib_paths, held_paths = split_calibration(list_images(calib_dir), calib_count)
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise UserError("INT8 export needs onnxruntime's quantization tools: pip install onnxruntime")
    info = model_info(fp32_path)
    held, labelled, deciding = _judges(fp32_path, info, calib_paths, held_paths, keep_float, target, labels,
                                       max_miou_drop, log)
    batches = calibration_batches(calib_paths, info, augment=augment)
    log("calibrating INT8 ({}) on {} image(s) ({} frames), {} held out".format(
        method, len(calib_paths), len(batches), len(held_paths)))
    path = variant_path(fp32_path, "int8")
    with tempfile.TemporaryDirectory(prefix="espnet-edge-int8-") as work:
        from espnet_edge.host.export.int8 import quantize_qdq

        tmp = os.path.join(work, "int8.onnx")
        done = quantize_qdq(fp32_path, tmp, batches, method=method, keep_float=keep_float, log=log,
                            judge=deciding, equalize=equalize)
        quantized = _load(tmp)
    entry = quantized.metadata_props.add()  # which Convs stay float travels with the graph
    entry.key, entry.value = "espnet_edge.int8_float_convs", json.dumps(done["float_convs"])
    table = _finish(quantized, info, path, "int8", trt_version, support)
    done.update(method=method, calibration_images=calib_paths, calibration_frames=len(batches),
                views_per_image=views_per_image(len(calib_paths), augment))
    report = _int8_report(path, fp32_path, done, table, held, labelled, deciding)
    write_json(report_path(path), report)
    return report


def _judges(fp32_path, info, calib_paths, held_paths, keep_float, target, labels, max_miou_drop, log):
    """-> (held-out agreement judge, labelled judge or None, the judge that decides or None). The
    labelled one measures fp32 at once, so a bad label is an error before any calibration."""
    from espnet_edge.host.export.int8_judge import AgreementJudge, LabelledJudge
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.images import read_image

    decide = keep_float is None
    if decide and target is None and labels is None:
        target = DEFAULT_TARGET
    if decide and labels is not None and target is None and max_miou_drop is None:
        max_miou_drop = DEFAULT_MAX_MIOU_DROP
    labelled = None
    if labels is not None:
        log("INT8: measuring fp32 on {} labelled image(s) of {}".format(len(labels.samples), labels.root))
        labelled = LabelledJudge(fp32_path, labels, max_drop=max_miou_drop if decide else None,
                                 calibrated=calib_paths)
    held = AgreementJudge(fp32_path, [network_input(read_image(p), info) for p in held_paths], held_paths,
                          target=target if decide else None)
    if not decide:
        return held, labelled, None
    return held, labelled, (labelled if max_miou_drop is not None else held)


def _int8_report(path, fp32_path, done, table, held, labelled, deciding):
    from espnet_edge.host.export.calibration_data import AUGMENTATIONS
    from espnet_edge.host.export.int8_layers import float_share

    final = done.pop("measurement", None)  # the deciding judge's numbers of the graph written
    checked = final if deciding is held and final is not None else held.measure(path)
    quantization = {
        "format": "QDQ", "activations": "int8 symmetric per tensor (zero point 0), Q/DQ on Conv inputs only",
        "weights": "int8 symmetric per output channel (axis 0)", "ops": ["Conv"],
        "float_ops": ["ConvTranspose"] + (["{} sensitive Conv(s)".format(len(done["float_convs"]))]
                                          if done["float_convs"] else []),
        "augmentation": [name + ("-mirrored" if mirrored else "")
                         for name, mirrored in AUGMENTATIONS[:done["views_per_image"]]],
        "decided_by": "--int8-float" if deciding is None else deciding.describe()["by"],
        "target": None if deciding is None else deciding.describe()["target"],
        "float_share": float_share(fp32_path, done["float_convs"])}
    quantization.update(done)
    per_image = checked["per_frame"]
    report = {
        "onnx": os.path.abspath(path), "from": os.path.abspath(fp32_path), "precision": "int8",
        "quantization": quantization,
        "tensorrt_check": {"version": table.version, "matrix": table.source, "passed": True},
        "verification": {"reference": "fp32 ONNX on onnxruntime CPU", "held_out_images": len(per_image),
                         "mask_agreement": checked["agreement"],
                         "mask_agreement_min": min(r["mask_agreement"] for r in per_image),
                         "mask_agreement_mean": float(np.mean([r["mask_agreement"] for r in per_image])),
                         "miou_vs_fp32": checked["miou_vs_fp32"], "per_image": per_image},
        "note": "Jetson TX2 (Pascal, sm_62) has no fast INT8 path: expect no speed-up there; "
                "Xavier/Orin run INT8 on tensor cores and DLA",
    }
    if labelled is not None:
        measured = final if deciding is labelled and final is not None else labelled.measure(path)
        report["judged"] = dict(labelled.describe(), int8_miou=measured["miou"], miou_drop=measured["miou_drop"],
                                int8_pixel_accuracy=measured["pixel_accuracy"],
                                fp32_pixel_accuracy=labelled.fp32["pixel_accuracy"],
                                per_class_iou={"fp32": labelled.fp32["per_class_iou"],
                                               "int8": measured["per_class_iou"]},
                                chose_float_convs=deciding is labelled)
    return report
