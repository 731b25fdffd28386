#!/usr/bin/env python3
"""Accuracy-aware INT8 for zoo models: how far fp16 and INT8 move the fp32 masks, per class, and which
Convs must stay in float for a held-out mask-agreement target.

    python3 scripts/int8_accuracy.py --models espnet-q8 espnetv2-s2.0-city-1024 --size 1024x512 \
        --images ../shared/images --out export/int8-accuracy

For each model: export fp32 and fp16 (ONNX Runtime CPU is the reference), split the real frames into
calibration and held-out sets (int8.split_frames), calibrate with each method (percentile, entropy,
minmax) and measure the all-INT8 QDQ graph on the held-out frames; for the best method compare every
Conv's tensors between the fp32 and QDQ graphs on calibration frames (int8.layer_errors), then keep
the Convs adding most error in float until the held-out agreement reaches --target
(int8.choose_float_convs). The fp32 noise floor (masks under +-1 grey level and a JPEG q95 re-encode,
noise_floor.py) is measured on the same held-out frames, and every INT8 agreement is also given on the
pixels it leaves stable. --equalize first equalises the activations read by Convs only
(int8_equalize.py). Writes <model>.json (everything), <model>-class-iou.png and the chosen
QDQ graph <model>-<W>x<H>-int8-auto.onnx (its metadata lists the float Convs); prints a table.
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["espnet-q8", "espnetv2-s2.0-city-1024"])
    parser.add_argument("--size", default="1024x512")
    parser.add_argument("--images", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "images"))
    parser.add_argument("--methods", nargs="+", default=["percentile", "entropy", "minmax"])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--order", choices=("sensitivity", "injected"), default="sensitivity",
                        help="which Convs go back to float first: 'sensitivity' (each Conv quantized alone, "
                        "the mask of 2 calibration frames compared with fp32; one quantization per Conv) or "
                        "'injected' (the int8 noise each Conv adds, from the tensor comparison; cheap)")
    parser.add_argument("--equalize", action="store_true",
                        help="cross-layer equalisation of the activations Convs alone read (int8_equalize; exact "
                        "in float) before calibrating")
    parser.add_argument("--no-augment", action="store_true", help="calibrate on the frames only (no crops/mirrors)")
    parser.add_argument("--out", default=os.path.join("export", "int8-accuracy"))
    args = parser.parse_args(argv)

    from espnet_edge.errors import UserError
    from espnet_edge.images import list_images

    if not 0 < args.target <= 1:
        raise UserError("--target is a fraction of pixels, 0 < target <= 1")
    paths = list_images(args.images)
    from espnet_edge.host.export.int8 import split_frames

    calib, held = split_frames(paths)
    if not calib or not held:
        raise UserError("need at least 2 frames in {} (calibration and held out)".format(args.images))
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for name in args.models:
        result = run_model(name, args, calib, held)
        rows.append(result)
    print()
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


def _log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_model(name, args, calib, held):
    import numpy as np
    import onnx

    from espnet_edge.host.export import int8
    from espnet_edge.host.export.calibration_data import calibration_batches
    from espnet_edge.host.export.pipeline import ensure_onnx, save_model
    from espnet_edge.host.export.variants import _info, export_fp16, variant_path
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.images import read_image
    from espnet_edge.utils.atomic import write_json
    from espnet_edge.utils.parsing import parse_size
    from espnet_edge.zoo import get_model

    started = time.time()
    entry = get_model(name)
    size = parse_size(args.size)
    fp32 = ensure_onnx(entry, size=size)
    info = _info(onnx.load(fp32), fp32)
    fp16 = variant_path(fp32, "fp16")
    if not os.path.isfile(fp16):
        export_fp16(fp32)
    _log("{}: fp32 {}, {} calibration frame(s), {} held out".format(name, fp32, len(calib), len(held)))
    held_batches = [network_input(read_image(p), info) for p in held]
    ref_maps = int8.class_maps(fp32, held_batches)
    classes = list(info.classes)
    fp16_maps = int8.class_maps(fp16, held_batches)
    result = {"model": name, "size": args.size, "calibration_frames": calib, "held_out_frames": held,
              "augmented": not args.no_augment, "target": args.target,
              "fp16": {"agreement": int8.agreement(ref_maps, fp16_maps),
                       "class_iou": int8.per_class_iou(ref_maps, fp16_maps, classes)},
              "methods": {}}
    _log("  fp16: held-out agreement {:.4f}".format(result["fp16"]["agreement"]))
    from espnet_edge.host.export.noise_floor import noise_floor, stable_agreement

    stable = []
    floor = noise_floor(fp32, [read_image(p) for p in held], info, stable=stable)
    result["noise_floor"] = {"per_frame": [dict(frame=p, stable_pixels=float(np.mean(s)), **row)
                                           for p, row, s in zip(held, floor, stable)],
                             "stable_pixels": float(np.mean([np.mean(s) for s in stable])),
                             "grey_level": float(sum(r["grey_level"] for r in floor) / len(floor)),
                             "jpeg95": float(sum(r["jpeg95"] for r in floor) / len(floor))}
    _log("  fp32 noise floor: +-1 grey level {:.4f}, JPEG q95 {:.4f}".format(
        result["noise_floor"]["grey_level"], result["noise_floor"]["jpeg95"]))
    batches = calibration_batches(calib, info, augment=not args.no_augment)
    input_name = onnx.load(fp32).graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="int8-accuracy-") as work:
        result["equalized"] = {}
        if args.equalize:  # quantize the equalised graph; the reference masks stay the original fp32's
            from espnet_edge.host.export.int8_equalize import equalize

            model = onnx.load(fp32)
            scales = equalize(model, batches)
            fp32 = save_model(model, os.path.join(work, "equalized.onnx"))
            result["equalized"] = {name: [float(scales[name].min()), float(scales[name].max())] for name in scales}
            _log("  equalised {} activation(s) read by Convs only".format(len(scales)))
        caches = {}
        for method in args.methods:
            cache = os.path.join(work, method + ".ranges")
            t0 = time.time()
            int8.calibrate(fp32, batches, input_name, method, cache, work)
            caches[method] = cache
            qdq = os.path.join(work, method + ".onnx")
            int8._quantize(fp32, qdq, batches, input_name, method, cache)
            maps = int8.class_maps(qdq, held_batches)
            result["methods"][method] = {"agreement": int8.agreement(ref_maps, maps),
                                         "per_frame": [int8.agreement([r], [m]) for r, m in zip(ref_maps, maps)],
                                         "stable_agreement": stable_agreement(ref_maps, maps, stable),
                                         "input_folded": int8.folded_input_convs(qdq),
                                         "class_iou": int8.per_class_iou(ref_maps, maps, classes),
                                         "seconds": round(time.time() - t0, 1)}
            _log("  INT8 {} (every Conv): held-out agreement {:.4f}".format(
                method, result["methods"][method]["agreement"]))
        best = max(result["methods"], key=lambda m: result["methods"][m]["agreement"])
        result["best_method"] = best
        best_qdq = os.path.join(work, best + ".onnx")
        # layer errors on calibration frames only (the first two full frames), never held-out ones
        full_frames = [network_input(read_image(p), info) for p in calib[:2]]
        errors = int8.layer_errors(fp32, best_qdq, full_frames)
        result["convs"] = len(errors)
        result["layer_errors"] = errors
        if args.order == "sensitivity":
            _log("  sensitivity scan: {} Conv(s), each quantized alone".format(len(errors)))
            scan = int8.sensitivity(fp32, int8.conv_names(onnx.load(fp32)), batches, input_name, best, work,
                                    caches[best])
            result["sensitivity"] = [{"conv": name, "mask_agreement_alone": score} for score, name in scan]
            order = [name for _, name in scan]
        else:
            order = [row["conv"] for row in errors]
        result["order"] = args.order
        chosen_path = os.path.join(work, "chosen.onnx")
        chosen = int8.choose_float_convs(fp32, chosen_path, batches, held_batches, order, best, caches[best],
                                         target=args.target, reference_maps=ref_maps, log=_log)
        maps = int8.class_maps(chosen_path, held_batches)
        chosen["class_iou"] = int8.per_class_iou(ref_maps, maps, classes)
        chosen["per_frame"] = [{"frame": p, "agreement": int8.agreement([r], [m]),
                                "stable_agreement": stable_agreement([r], [m], [s])}
                               for p, r, m, s in zip(held, ref_maps, maps, stable)]
        chosen["stable_agreement"] = stable_agreement(ref_maps, maps, stable)
        result["chosen"] = chosen
        model = onnx.load(chosen_path)
        from espnet_edge.host.export.pipeline import set_metadata

        info.precision = "int8"
        set_metadata(model, info, extra={"espnet_edge.int8_" + k: json.dumps(v) for k, v in (
            ("float_convs", chosen["float_convs"]), ("method", best), ("target", args.target),
            ("heldout_agreement", chosen["agreement"]))})
        out_onnx = os.path.join(args.out, "{}-{}-int8-auto.onnx".format(name, args.size))
        save_model(model, out_onnx)
    result["onnx"] = out_onnx
    png = os.path.join(args.out, "{}-class-iou.png".format(name))
    int8.plot_class_iou(png, classes, {
        "fp16": result["fp16"]["class_iou"],
        "INT8 {} (every Conv)".format(best): result["methods"][best]["class_iou"],
        "INT8 {} + {} float Conv(s)".format(best, len(chosen["float_convs"])): chosen["class_iou"]},
        "{} {}: per-class IoU against fp32 on {} held-out frames".format(name, args.size, len(held)))
    result["png"] = png
    result["seconds"] = round(time.time() - started, 1)
    write_json(os.path.join(args.out, "{}.json".format(name)), result)
    _log("  chosen: {} float Conv(s), held-out agreement {:.4f} ({:.0f} s)".format(
        len(chosen["float_convs"]), chosen["agreement"], result["seconds"]))
    return result


if __name__ == "__main__":
    from espnet_edge.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:
        sys.stderr.write("int8_accuracy: error: {}\n".format(exc))
        sys.exit(2)
