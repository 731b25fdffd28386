#!/usr/bin/env python3
"""INT8 accuracy of zoo models, three studies (ONNX Runtime CPU; the numbers in docs/export.md):

    python3 scripts/int8_accuracy.py camvid      # mIoU on CamVid test: fp32, fp16, INT8 calibrated on train
    python3 scripts/int8_accuracy.py cityscapes  # default INT8 export of the Cityscapes checkpoints at
                                                 # 1024x512, leave-one-out on the 2 Cityscapes frames
    python3 scripts/int8_accuracy.py frames      # per-class / per-layer study on every frame of ../shared/images

camvid: `espnet-q8-camvid` at 480x360; fp32 and fp16 are evaluated on the test split as `espnet-edge eval`
does (apps.eval.evaluate), then three INT8 exports, each calibrated on the train frames (3/4 of them; every
4th held out, as `export --int8 --calib` does) and evaluated on the test split, which no choice ever saw:
the default (`--int8 --calib train`: the fewest float Convs for 99% mask agreement on the held-out train
frames), the labelled choice (`--int8-labels <camvid> --int8-labels-split train`: the fewest for an mIoU drop
<= 0.5 on the held-out train frames, whose labels are used; the test labels never are) and every Conv INT8.

cityscapes: for ESPNet q8 and ESPNetv2 s2.0 at 1024x512, the default INT8 export calibrated on CamVid's 92
train frames plus one of the two Cityscapes frames, checked on the other (and the reverse): mask agreement
with fp32 on the unseen frame, the fp32 noise floor there (+-1 grey level), float Convs and their share of
the multiply-accumulates.

frames: every real frame of ../shared/images split into calibration and held-out halves: fp16 and INT8
(each calibration method) against fp32 per class, the fp32 noise floor, per-layer tensor errors and the Convs
kept float for --target (writes <model>-class-iou.png).

Each writes <study>.json (and a markdown table on stdout) into --out (default export/int8-accuracy).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared")
CAMVID = os.path.join(SHARED, "datasets", "camvid")
CITYSCAPES = os.path.join(SHARED, "images", "cityscapes")
CITY_MODELS = ("espnet-q8", "espnetv2-s2.0-city-1024")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("export", "int8-accuracy"))
    studies = parser.add_subparsers(dest="study", required=True)
    camvid = studies.add_parser("camvid", help="mIoU on CamVid test of fp32, fp16 and INT8 calibrated on train")
    camvid.add_argument("--data", default=CAMVID)
    camvid.add_argument("--limit", type=int, help="evaluate only the first N test frames (development)")
    city = studies.add_parser("cityscapes", help="leave-one-out agreement of the default INT8 export")
    city.add_argument("--models", nargs="+", default=list(CITY_MODELS))
    city.add_argument("--size", default="1024x512")
    frames = studies.add_parser("frames", help="per-class and per-layer study on ../shared/images")
    frames.add_argument("--models", nargs="+", default=list(CITY_MODELS))
    frames.add_argument("--size", default="1024x512")
    frames.add_argument("--images", default=os.path.join(SHARED, "images"))
    frames.add_argument("--methods", nargs="+", default=["percentile", "entropy", "minmax"])
    frames.add_argument("--target", type=float, default=0.99)
    frames.add_argument("--equalize", action="store_true", help="cross-layer equalisation first (int8_equalize)")
    frames.add_argument("--no-augment", action="store_true", help="calibrate on the frames only (no crops/mirrors)")
    args = parser.parse_args(argv)
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))
    os.makedirs(args.out, exist_ok=True)
    if args.study == "frames":
        from int8_frames import run_frames  # the per-class / per-layer study (scripts/int8_frames.py)

        return run_frames(args)
    return {"camvid": run_camvid, "cityscapes": run_cityscapes}[args.study](args)


def _log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def evaluate_onnx(path, dataset, limit=None):
    from espnet_edge.apps.eval import evaluate
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    segmenter = Segmenter(OnnxRuntimeRunner(path, providers=["CPUExecutionProvider"]))
    try:
        return evaluate(segmenter, dataset, progress=False, limit=limit)
    finally:
        segmenter.close()


def agreement_on(fp32, candidate, dataset, limit=None):
    """Mask agreement with fp32 at the network size on the evaluated frames, pooled."""
    from espnet_edge.host.export.int8_qdq import agreement, class_maps
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.images import read_image
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    info = model_info(fp32)
    same = total = 0
    for image, _label in dataset.samples[:limit] if limit else dataset.samples:
        batch = [network_input(read_image(image), info)]
        ref, got = class_maps(fp32, batch), class_maps(candidate, batch)
        same += agreement(ref, got) * ref[0].size
        total += ref[0].size
    return same / float(total)


def run_camvid(args):
    from espnet_edge.apps.datasets import open_dataset
    from espnet_edge.host.export.pipeline import ensure_onnx
    from espnet_edge.host.export.variants import export_fp16, export_int8
    from espnet_edge.utils.atomic import write_json
    from espnet_edge.zoo import get_model

    test = open_dataset(args.data, "camvid", "test")
    train = open_dataset(args.data, "camvid", "train")
    calib = os.path.dirname(train.samples[0][0])
    fp32 = ensure_onnx(get_model("espnet-q8-camvid"))
    result = {"model": "espnet-q8-camvid", "size": "480x360", "test": test.root,
              "test_images": len(test.samples[:args.limit] if args.limit else test.samples),
              "calibration": calib, "rows": []}
    with tempfile.TemporaryDirectory(prefix="int8-camvid-") as work:
        fp16 = export_fp16(_copy(fp32, work, "fp16"))["onnx"]
        runs = [("fp32 (ONNX Runtime)", fp32, None), ("fp16", fp16, None),
                ("INT8 default: --int8 --calib train", None, {}),
                ("INT8 labelled: + --int8-labels train (mIoU drop <= 0.5 on held-out train frames)", None,
                 {"labels": train, "max_miou_drop": 0.5}),
                ("INT8 every Conv: --int8-float 0", None, {"keep_float": 0})]
        for name, path, options in runs:
            started = time.time()
            report = None
            if options is not None:
                report = export_int8(_copy(fp32, work, str(len(result["rows"]))), calib, log=_log, **options)
                path = report["onnx"]
            measured = evaluate_onnx(path, test, args.limit)
            row = {"variant": name, "miou": measured["miou"], "pixel_accuracy": measured["pixel_accuracy"],
                   "per_class_iou": measured["per_class_iou"], "seconds": round(time.time() - started, 1)}
            if path != fp32:
                row["agreement_with_fp32"] = agreement_on(fp32, path, test, args.limit)
            if report is not None:
                quant = report["quantization"]
                row.update(float_convs=len(quant["float_convs"]), convs=quant["convs"],
                           float_share=quant["float_share"]["float_fraction"], decided_by=quant["decided_by"],
                           target=quant["target"], search=quant.get("search"), judged=report.get("judged"))
            result["rows"].append(row)
            _log("{}: mIoU {:.2%}".format(name, row["miou"]))
    fp32_miou = result["rows"][0]["miou"]
    for row in result["rows"]:
        row["miou_drop"] = round(100 * (fp32_miou - row["miou"]), 3)
    write_json(os.path.join(args.out, "camvid.json"), result)
    print(camvid_table(result))
    return 0


def camvid_table(result):
    """The markdown table of a camvid study's result (camvid.json)."""
    lines = ["| variant | mIoU (test, {} frames) | change vs fp32 (points) | pixel agreement with fp32 | "
             "float Convs (share of MACs float) |".format(result["test_images"]), "|---|---|---|---|---|"]
    for row in result["rows"]:
        floats = "{} of {} ({:.1%})".format(row["float_convs"], row["convs"], row["float_share"]) \
            if "float_convs" in row else "-"
        agree = "{:.4f}".format(row["agreement_with_fp32"]) if "agreement_with_fp32" in row else "-"
        lines.append("| {} | {:.2f} | {:+.2f} | {} | {} |".format(
            row["variant"], 100 * row["miou"], round(-row["miou_drop"], 2) + 0.0, agree, floats))
    return "\n".join(lines)


def _copy(fp32, work, tag):
    """The fp32 graph in its own folder (each variant is written beside the graph it came from)."""
    folder = os.path.join(work, tag)
    os.makedirs(folder, exist_ok=True)
    return shutil.copy(fp32, folder)


def run_cityscapes(args):
    from espnet_edge.host.export.noise_floor import plus_minus_one_grey
    from espnet_edge.host.export.int8_qdq import agreement, class_maps
    from espnet_edge.host.export.pipeline import ensure_onnx
    from espnet_edge.host.export.variants import export_int8
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.images import list_images, read_image
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info
    from espnet_edge.utils.atomic import write_json
    from espnet_edge.utils.parsing import parse_size
    from espnet_edge.zoo import get_model

    frames = list_images(CITYSCAPES)
    camvid_train = list_images(os.path.join(CAMVID, "train"))
    result = {"size": args.size, "calibration": "CamVid train ({} frames) + one Cityscapes frame".format(
        len(camvid_train)), "rows": []}
    for name in args.models:
        fp32 = ensure_onnx(get_model(name), size=parse_size(args.size))
        info = model_info(fp32)
        for calibrated in frames:
            unseen = [f for f in frames if f != calibrated][0]
            started = time.time()
            with tempfile.TemporaryDirectory(prefix="int8-loo-") as work:
                calib = os.path.join(work, "calib")
                os.makedirs(calib)
                for path in camvid_train + [calibrated]:
                    os.symlink(path, os.path.join(calib, os.path.basename(path)))
                report = export_int8(_copy(fp32, work, "graph"), calib, log=_log)
                batch = [network_input(read_image(unseen), info)]
                ref = class_maps(fp32, batch)
                row = {"model": name, "calibrated": os.path.basename(calibrated), "unseen": os.path.basename(unseen),
                       "agreement": agreement(ref, class_maps(report["onnx"], batch)),
                       "noise_floor_grey_level": agreement(
                           ref, class_maps(fp32, [plus_minus_one_grey(batch[0], info)])),
                       "float_convs": len(report["quantization"]["float_convs"]),
                       "convs": report["quantization"]["convs"],
                       "float_share": report["quantization"]["float_share"]["float_fraction"],
                       "target_met": report["quantization"].get("target_met"),
                       "heldout_agreement": report["verification"]["mask_agreement"],
                       "calibration_frames": report["quantization"]["calibration_frames"],
                       "search": report["quantization"].get("search"), "seconds": round(time.time() - started, 1)}
            result["rows"].append(row)
            _log("{} calibrated with {}: {:.4f} on {}".format(name, row["calibrated"], row["agreement"], row["unseen"]))
            write_json(os.path.join(args.out, "cityscapes.json"), result)
    print(cityscapes_table(result))
    return 0


def cityscapes_table(result):
    """The markdown table of a cityscapes study's result (cityscapes.json)."""
    lines = ["| model | calibrated on (+ CamVid train) | unseen frame | agreement with fp32 | fp32 under +-1 grey "
             "level | float Convs (share of MACs float) | held-out CamVid agreement |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append("| {} | {} | {} | **{:.4f}** | {:.4f} | {} of {} ({:.1%}) | {:.4f} |".format(
            r["model"], r["calibrated"][:23], r["unseen"][:23], r["agreement"], r["noise_floor_grey_level"],
            r["float_convs"], r["convs"], r["float_share"], r["heldout_agreement"]))
    return "\n".join(lines)


if __name__ == "__main__":
    from espnet_edge.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:
        sys.stderr.write("int8_accuracy: error: {}\n".format(exc))
        sys.exit(2)
