"""espnet-edge export: zoo model -> verified ONNX (and fp16 / INT8 variants) that TensorRT 8.2 parses."""

import os

from espnet_edge import defaults
from espnet_edge.cli import validate
from espnet_edge.cli.args import add_int8_accuracy_args, add_output_args, add_source_args, add_trt_check_args
from espnet_edge.cli.common import no_empty_folder_left
from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.utils.parsing import parse_size


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a zoo model to ONNX (fp32, fp16, INT8) and verify it",
        description="Export a zoo model to ONNX (opset <= 13, one input `input`, one output `logits`), "
        "check every node against TensorRT's ONNX operator matrix and compare ONNX Runtime with "
        "PyTorch; the report goes to <file>.report.json.")
    add_source_args(parser, files=False, backend=False, threads=False, batch=True, model_required=True)
    parser.add_argument("--opset", type=validate.positive_int, default=defaults.ONNX_OPSET,
                        help="ONNX opset (default %(default)s; TensorRT 8.2 takes <= 13)")
    parser.add_argument("--fp16", action="store_true", help="also write <name>-fp16.onnx (and an engine "
                        "when TensorRT and a GPU are here)")
    parser.add_argument("--int8", action="store_true", help="also write a QDQ INT8 <name>-int8.onnx (needs --calib)")
    parser.add_argument("--calib", metavar="DIR", help="folder of real images for INT8 calibration")
    parser.add_argument("--calib-count", type=validate.positive_int, help="calibrate on at most N images")
    parser.add_argument("--calib-method", default=defaults.CALIB_METHOD, choices=("minmax", "entropy", "percentile"),
                        help="INT8 calibration method (default %(default)s)")
    parser.add_argument("--int8-equalize", action="store_true",
                        help="cross-layer equalisation before calibrating: rescale channels of activations "
                        "only Convs read (exact in float; helps ESPNetv2, see docs/export.md)")
    parser.add_argument("--no-calib-augment", action="store_true",
                        help="calibrate on the images only, without their crops and mirrors")
    parser.add_argument("--fuse-pre", action="store_true", help="graph takes NHWC float32 pixels 0..255 "
                        "(resized, checkpoint channel order) and normalises them itself")
    parser.add_argument("--fuse-post", action="store_true", help="graph ends in ArgMax: an int32 class map")
    parser.add_argument("--input-size", metavar="WxH", type=validate.size_text, help="with --fuse-pre: the graph takes the camera's "
                        "raw BGR frame of this size (NHWC, 0..255) and does channel order, resize and "
                        "normalisation itself, exactly as the checkpoint's CPU preprocessing")
    parser.add_argument("--frame-dtype", default="float32", choices=("float32", "uint8"),
                        help="type of the raw frame input (and overlay output): float32 (default; "
                        "TensorRT 8.2 has no UINT8) or uint8 (TensorRT versions that take it, ONNX Runtime)")
    parser.add_argument("--fuse-overlay", action="store_true", help="with --input-size: the graph also "
                        "resizes the class map to the frame, colours and blends it: output [N, H + R, W, 3] "
                        "= BGR overlay, then R rows holding the network-size class map")
    parser.add_argument("--overlay-alpha", type=validate.fraction, default=defaults.OVERLAY_ALPHA,
                        help="overlay opacity fixed in a --fuse-overlay graph (default %(default)s)")
    parser.add_argument("--images", metavar="DIR", help="real images to verify on (default: a synthetic frame)")
    add_int8_accuracy_args(parser)
    add_trt_check_args(parser)
    add_output_args(parser, out="output folder (default: export/ in the current directory)")
    parser.set_defaults(func=run)


def _host_export():
    try:
        from espnet_edge.host.export import pipeline, variants
    except ImportError as exc:
        raise MissingDependency("export needs the workstation extras (torch, onnx, onnxruntime): "
                                "pip install espnet-edge[host] ({})".format(exc))
    return pipeline, variants


_SOURCE_WORDS = {"images": "real", "synthetic": "synthetic"}  # verify.frames' source -> "on N ... image(s)"


def _print_report(report):
    v = report["verification"]
    diff = v.get("max_abs_logit_diff")
    print("  {} ({}): mask agreement {:.4%}{} on {} {} image(s) vs {}".format(
        report["onnx"], report.get("precision", "fp32"), v["mask_agreement_min"],
        ", max |logit diff| {:.2e}".format(diff) if diff is not None else "",
        v.get("images", v.get("held_out_images")), _SOURCE_WORDS.get(v.get("source"), "held-out"), v["reference"]))
    if "miou_vs_fp32" in v:
        print("    mIoU vs fp32 {:.4f} on held-out images".format(v["miou_vs_fp32"]))
    if v.get("source") == "synthetic":
        print("    note: verified on a synthetic frame; pass --images DIR for real images")


def _int8_labels(args, entry, variants):
    """The --int8-labels dataset, and every INT8 option, checked before the export starts."""
    if not args.int8:
        return None
    variants.check_int8_options(args.calib_method, args.int8_float, args.int8_target, args.int8_target_miou_drop,
                                labels=args.int8_labels)
    if not args.int8_labels:
        return None
    from espnet_edge.host.export.int8_judge import open_labels
    from espnet_edge.runtime.model_info import ModelInfo

    return open_labels(args.int8_labels, args.int8_labels_format, args.int8_labels_split, ModelInfo.from_zoo(entry))


def _print_int8(report):
    from espnet_edge.host.export.int8_judge import summary_line

    quant = report["quantization"]
    share = quant["float_share"]
    print("    {} of {} Convs float ({}); {:.1%} of the network's multiply-accumulates stay float "
          "(ConvTranspose included)".format(len(quant["float_convs"]), quant["convs"], _decided(quant),
                                            share["float_fraction"] or 0.0))
    if "judged" in report:
        print("    " + summary_line(report["judged"]))
    else:
        print("    judged by mask agreement with fp32 only (no labels): --int8-labels DIR judges INT8 by mIoU")
    print("    note: " + report["note"])


def _decided(quant):
    if quant["target"] is None:
        return "fixed by " + quant["decided_by"]
    if "drop" in quant["decided_by"]:
        goal = "an mIoU drop <= {:g} points on the labelled images".format(quant["target"])
    else:
        goal = "held-out mask agreement >= {:g}".format(quant["target"])
    return "the fewest for {}: {}".format(goal, "met" if quant.get("target_met") else "NOT met")


def _fp16_engine(onnx_path):
    """Build the fp16 engine where TensorRT and a GPU are present; else say how to finish."""
    reason = "the engine step needs TensorRT and a GPU"
    try:
        from espnet_edge.runtime.tensorrt import builder

        ok, why = builder.available()
        reason = why or reason
    except ImportError as exc:
        ok, reason = False, "the engine step needs TensorRT ({})".format(exc)
    if not ok:
        print("fp16 engine: not built here ({}); on the device run `espnet-edge build {} --fp16`".format(
            reason, onnx_path))
        return None
    engine = builder.build_engine(onnx_path, fp16=True)
    print("wrote fp16 engine {}".format(engine))
    return engine


def run(args):
    from espnet_edge.zoo import get_model

    if args.int8 and not args.calib:
        raise UserError("--int8 needs --calib DIR: a folder of real images to calibrate on")
    if args.calib and not args.int8:
        raise UserError("--calib is for --int8; add --int8")
    int8_only = [flag for flag, given in (
        ("--int8-equalize", args.int8_equalize), ("--int8-float", args.int8_float is not None),
        ("--int8-target", args.int8_target is not None), ("--int8-labels", args.int8_labels),
        ("--int8-target-miou-drop", args.int8_target_miou_drop is not None)) if given]
    if int8_only and not args.int8:
        raise UserError("{} is for --int8; add --int8 --calib DIR".format(int8_only[0]))
    for flag, value in (("--int8-labels-format", args.int8_labels_format),
                        ("--int8-labels-split", args.int8_labels_split)):
        if value and not args.int8_labels:
            raise UserError("{} describes --int8-labels DIR; add --int8-labels".format(flag))
    entry = get_model(args.model)
    # everything the export's later steps read is checked before the 10-25 s export starts
    validate.image_folder(args.calib, "--calib")
    validate.image_folder(args.images, "--images")
    if args.out:
        validate.output_dir(args.out, "--out")
    if args.weights:
        validate.input_file(args.weights, "--weights", "checkpoint")
    elif entry.weights_file:
        from espnet_edge.weights import env_root

        env_root()   # $ESPNET_EDGE_WEIGHTS naming no folder: said now, not after the export started
    if args.support:
        validate.input_file(args.support, "--support", "operator table")
        from espnet_edge.runtime.trt_support import load_support

        load_support(args.trt, args.support)   # a table that does not parse stops us before the export
    size = parse_size(args.size) if args.size else None
    input_size = parse_size(args.input_size) if args.input_size else None
    overlay_alpha = args.overlay_alpha if args.fuse_overlay else None
    pipeline, variants = _host_export()
    labels = _int8_labels(args, entry, variants)
    frame_size = pipeline.check_frame_options(input_size, args.fuse_pre, args.frame_dtype, overlay_alpha,
                                              args.trt, args.support)
    fused = pipeline.fused_stages(args.fuse_pre, args.fuse_post, overlay_alpha)
    target = os.path.join(args.out or pipeline.default_out_dir(),
                          pipeline.artifact_name(entry.name, size or entry.input_size, args.batch, fused,
                                                 frame_size=frame_size, frame_dtype=args.frame_dtype))
    for path in (target, pipeline.report_path(target)):
        if os.path.isdir(path):
            raise UserError("{} is a folder where the export writes a file; move it or choose another "
                            "--out".format(path))
    validate.outputs_apart([("--out", os.path.dirname(target), _written_names(target, args))],
                           [("--weights", args.weights), ("--calib", args.calib), ("--images", args.images),
                            ("--support", args.support)])
    with no_empty_folder_left(args.out or pipeline.default_out_dir()):
        return _export(args, entry, pipeline, variants, size, input_size, overlay_alpha, labels)


def _written_names(target, args):
    """The file names an export writes beside ``target`` (its ONNX), for validate.outputs_apart."""
    stem = os.path.splitext(os.path.basename(target))[0]
    names = [stem + ".onnx"]
    names += [stem + "-fp16.onnx"] if args.fp16 else []
    names += [stem + "-int8.onnx"] if args.int8 else []
    return names + [name + ".report.json" for name in names]


def _export(args, entry, pipeline, variants, size, input_size, overlay_alpha, labels):
    images = [args.images] if args.images else None
    report = pipeline.export_model(entry, weights=args.weights, size=size, batch=args.batch,
                                   opset=args.opset, fuse_pre=args.fuse_pre, fuse_post=args.fuse_post,
                                   out_dir=args.out, trt_version=args.trt, support=args.support,
                                   images=images, log=print, input_size=input_size,
                                   frame_dtype=args.frame_dtype, overlay_alpha=overlay_alpha)
    print("wrote {} ({} nodes; TensorRT {} check passed, matrix: {})".format(
        report["onnx"], report["graph"]["nodes"], report["tensorrt_check"]["version"],
        report["tensorrt_check"]["matrix"]))
    _print_report(report)
    if args.fp16:
        half = variants.export_fp16(report["onnx"], images=images, trt_version=args.trt, support=args.support)
        print("wrote {}".format(half["onnx"]))
        _print_report(half)
        _fp16_engine(report["onnx"])
    if args.int8:
        quant = variants.export_int8(report["onnx"], args.calib, calib_count=args.calib_count,
                                     method=args.calib_method, trt_version=args.trt,
                                     support=args.support, log=print, keep_float=args.int8_float,
                                     augment=not args.no_calib_augment, target=args.int8_target,
                                     equalize=args.int8_equalize, labels=labels,
                                     max_miou_drop=args.int8_target_miou_drop)
        print("wrote {}".format(quant["onnx"]))
        _print_report(quant)
        _print_int8(quant)
    return 0
