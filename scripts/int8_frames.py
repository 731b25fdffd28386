"""`scripts/int8_accuracy.py frames`: how far fp16 and INT8 move the fp32 masks of zoo models, per class and
per layer, on every real frame of ../shared/images (no labels: agreement with fp32 is all there is).

For each model: export fp32 and fp16 (ONNX Runtime CPU is the reference), split the frames into
calibration and held-out halves (calibration_data.split_frames), calibrate with each method and measure
the all-INT8 QDQ graph on the held-out frames; for the best method compare every Conv's tensors between
the fp32 and QDQ graphs on calibration frames (int8_layers.layer_errors), then keep Convs in float
(sensitivity-scan order) until the held-out agreement reaches --target (int8.choose_float_convs with an
int8_judge.AgreementJudge). The fp32 noise floor (+-1 grey level, JPEG q95; noise_floor.py) is measured
on the same held-out frames, and every INT8 agreement is also given on the pixels it leaves stable.
Writes <model>.json, <model>-class-iou.png and the chosen graph <model>-<W>x<H>-int8-auto.onnx.
"""

import json
import os
import sys
import tempfile
import time


def _log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_frames(args):
    from espnet_edge.errors import UserError
    from espnet_edge.host.export.calibration_data import split_frames
    from espnet_edge.images import list_images

    if not 0 < args.target <= 1:
        raise UserError("--target is a fraction of pixels, 0 < target <= 1")
    calib, held = split_frames(list_images(args.images))
    if not calib or not held:
        raise UserError("need at least 2 frames in {} (calibration and held out)".format(args.images))
    rows = [run_model(name, args, calib, held) for name in args.models]
    print("| model | size | fp32 noise floor: +-1 grey / JPEG q95 | fp16 agreement | INT8 (all Convs) best method "
          "| INT8 chosen (on stable pixels) | float Convs | target met |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        best = r["methods"][r["best_method"]]
        print("| {} | {} | {:.4f} / {:.4f} | {:.4f} | {:.4f} ({}) | {:.4f} ({:.4f}) | {} of {} | {} |".format(
            r["model"], r["size"], r["noise_floor"]["grey_level"], r["noise_floor"]["jpeg95"],
            r["fp16"]["agreement"], best["agreement"], r["best_method"],
            r["chosen"]["agreement"], r["chosen"]["stable_agreement"], len(r["chosen"]["float_convs"]), r["convs"],
            r["chosen"]["target_met"]))
    return 0


def _setup(name, args, held):
    """fp32 + fp16 graphs, the held-out batches and fp32 maps, fp16's agreement and the noise floor."""
    import numpy as np

    from espnet_edge.host.export import int8_qdq
    from espnet_edge.host.export.noise_floor import noise_floor
    from espnet_edge.host.export.pipeline import ensure_onnx
    from espnet_edge.host.export.variants import export_fp16, variant_path
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.images import read_image
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info
    from espnet_edge.utils.parsing import parse_size
    from espnet_edge.zoo import get_model

    fp32 = ensure_onnx(get_model(name), size=parse_size(args.size))
    info = model_info(fp32)
    fp16 = variant_path(fp32, "fp16")
    if not os.path.isfile(fp16):
        export_fp16(fp32)
    held_batches = [network_input(read_image(p), info) for p in held]
    ref_maps = int8_qdq.class_maps(fp32, held_batches)
    fp16_maps = int8_qdq.class_maps(fp16, held_batches)
    stable = []
    floor = noise_floor(fp32, [read_image(p) for p in held], info, stable=stable)
    result = {"model": name, "size": args.size, "held_out_frames": held, "augmented": not args.no_augment,
              "target": args.target,
              "fp16": {"agreement": int8_qdq.agreement(ref_maps, fp16_maps),
                       "class_iou": int8_qdq.per_class_iou(ref_maps, fp16_maps, list(info.classes))},
              "noise_floor": {"per_frame": [dict(frame=p, stable_pixels=float(np.mean(s)), **row)
                                            for p, row, s in zip(held, floor, stable)],
                              "stable_pixels": float(np.mean([np.mean(s) for s in stable])),
                              "grey_level": float(sum(r["grey_level"] for r in floor) / len(floor)),
                              "jpeg95": float(sum(r["jpeg95"] for r in floor) / len(floor))},
              "methods": {}}
    _log("{}: fp16 held-out agreement {:.4f}; fp32 noise floor +-1 grey {:.4f}, JPEG q95 {:.4f}".format(
        name, result["fp16"]["agreement"], result["noise_floor"]["grey_level"], result["noise_floor"]["jpeg95"]))
    return fp32, info, held_batches, ref_maps, stable, result


def run_model(name, args, calib, held):
    import onnx

    from espnet_edge.host.export import int8_qdq
    from espnet_edge.host.export.calibration_data import calibration_batches
    from espnet_edge.host.export.noise_floor import stable_agreement
    from espnet_edge.host.export.pipeline import save_model
    from espnet_edge.utils.atomic import write_json

    started = time.time()
    fp32, info, held_batches, ref_maps, stable, result = _setup(name, args, held)
    classes = list(info.classes)
    result["calibration_frames"] = calib
    batches = calibration_batches(calib, info, augment=not args.no_augment)
    input_name = onnx.load(fp32).graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="int8-accuracy-") as work:
        result["equalized"] = {}
        if args.equalize:  # quantize the equalised graph; the reference masks stay the original fp32's
            from espnet_edge.host.export.int8_equalize import equalize

            model = onnx.load(fp32)
            scales = equalize(model, batches)
            fp32 = save_model(model, os.path.join(work, "equalized.onnx"))
            result["equalized"] = {t: [float(scales[t].min()), float(scales[t].max())] for t in scales}
        caches = {}
        for method in args.methods:
            caches[method] = os.path.join(work, method + ".ranges")
            t0 = time.time()
            int8_qdq.calibrate(fp32, batches, input_name, method, caches[method], work)
            qdq = os.path.join(work, method + ".onnx")
            int8_qdq.quantize(fp32, qdq, batches, input_name, method, caches[method])
            maps = int8_qdq.class_maps(qdq, held_batches)
            result["methods"][method] = {"agreement": int8_qdq.agreement(ref_maps, maps),
                                         "per_frame": [int8_qdq.agreement([r], [m]) for r, m in zip(ref_maps, maps)],
                                         "stable_agreement": stable_agreement(ref_maps, maps, stable),
                                         "input_folded": int8_qdq.folded_input_convs(qdq),
                                         "class_iou": int8_qdq.per_class_iou(ref_maps, maps, classes),
                                         "seconds": round(time.time() - t0, 1)}
            _log("  INT8 {} (every Conv): held-out agreement {:.4f}".format(
                method, result["methods"][method]["agreement"]))
        best = max(result["methods"], key=lambda m: result["methods"][m]["agreement"])
        result["best_method"] = best
        chosen_path = _choose(fp32, info, batches, held, held_batches, ref_maps, stable, best, caches[best], work,
                              args, result)
        out_onnx = _save_chosen(chosen_path, info, best, args, name, result)
    result["onnx"] = out_onnx
    result["png"] = _plot(name, args, classes, best, result, len(held))
    result["seconds"] = round(time.time() - started, 1)
    write_json(os.path.join(args.out, "{}.json".format(name)), result)
    _log("  chosen: {} float Conv(s), held-out agreement {:.4f} ({:.0f} s)".format(
        len(result["chosen"]["float_convs"]), result["chosen"]["agreement"], result["seconds"]))
    return result


def _choose(fp32, info, batches, held, held_batches, ref_maps, stable, method, cache, work, args, result):
    """Layer errors of the all-INT8 graph, the sensitivity scan, and the float Convs for --target."""
    import onnx

    from espnet_edge.host.export import int8, int8_qdq
    from espnet_edge.host.export.int8_judge import AgreementJudge
    from espnet_edge.host.export.noise_floor import stable_agreement
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.images import read_image

    # layer errors on calibration frames only (the first two full frames), never held-out ones
    full_frames = [network_input(read_image(p), info) for p in result["calibration_frames"][:2]]
    errors = int8.layer_errors(fp32, os.path.join(work, method + ".onnx"), full_frames)
    result["convs"] = len(errors)
    result["layer_errors"] = errors
    input_name = onnx.load(fp32).graph.input[0].name
    scan = int8.sensitivity(fp32, int8_qdq.conv_names(onnx.load(fp32)), batches, input_name, method, work, cache)
    result["sensitivity"] = [{"conv": name, "mask_agreement_alone": score} for score, name in scan]
    judge = AgreementJudge(fp32, held_batches, held, target=args.target)
    judge.reference = ref_maps  # the original fp32's masks (the graph quantized may be the equalised one)
    chosen_path = os.path.join(work, "chosen.onnx")
    chosen = int8.choose_float_convs(fp32, chosen_path, batches, [n for _, n in scan], method, cache, judge, log=_log)
    maps = int8_qdq.class_maps(chosen_path, held_batches)
    result["chosen"] = {"float_convs": chosen["float_convs"], "target_met": chosen["target_met"],
                        "agreement": chosen["measurement"]["agreement"],
                        "trace": [(k, m["agreement"]) for k, m in chosen["trace"]],
                        "class_iou": int8_qdq.per_class_iou(ref_maps, maps, list(info.classes)),
                        "per_frame": [{"frame": p, "agreement": int8_qdq.agreement([r], [m]),
                                       "stable_agreement": stable_agreement([r], [m], [s])}
                                      for p, r, m, s in zip(held, ref_maps, maps, stable)],
                        "stable_agreement": stable_agreement(ref_maps, maps, stable)}
    return chosen_path


def _save_chosen(chosen_path, info, method, args, name, result):
    import onnx

    from espnet_edge.host.export.pipeline import save_model, set_metadata

    model = onnx.load(chosen_path)
    info.precision = "int8"
    set_metadata(model, info, extra={"espnet_edge.int8_" + k: json.dumps(v) for k, v in (
        ("float_convs", result["chosen"]["float_convs"]), ("method", method), ("target", args.target),
        ("heldout_agreement", result["chosen"]["agreement"]))})
    return save_model(model, os.path.join(args.out, "{}-{}-int8-auto.onnx".format(name, args.size)))


def _plot(name, args, classes, best, result, held_count):
    from espnet_edge.host.export.int8_judge import plot_class_iou

    return plot_class_iou(os.path.join(args.out, "{}-class-iou.png".format(name)), classes, {
        "fp16": result["fp16"]["class_iou"],
        "INT8 {} (every Conv)".format(best): result["methods"][best]["class_iou"],
        "INT8 {} + {} float Conv(s)".format(best, len(result["chosen"]["float_convs"])): result["chosen"]["class_iou"]},
        "{} {}: per-class IoU against fp32 on {} held-out frames".format(name, args.size, held_count))
