"""espnet-edge compare: run artifacts of one network on the same images and compare with the first."""

from espnet_edge.cli import validate
from espnet_edge.cli.args import add_output_args, add_source_args
from espnet_edge.errors import UserError


def add_parser(subparsers):
    from espnet_edge.apps.compare import DEFAULT_MAX_LOGIT_DIFF_FP32, DEFAULT_MIN_AGREEMENT

    parser = subparsers.add_parser(
        "compare", help="compare backends/precisions of one network (logits, masks, mIoU)",
        description="Run every ARTIFACT on the same images and compare each with the first: "
        "max/mean |logit difference| (where both give logits), mask agreement and mIoU against "
        "the first's masks. An ARTIFACT is a zoo model name, an .onnx file (fp32/fp16/int8 exports) "
        "or a TensorRT engine (.engine/.trt/.plan), run where --model/--onnx/--engine run in every "
        "command (a model on onnxruntime, exported on demand); prefix backend: to choose, e.g. "
        "torch:espnet-q3 or tensorrt:model.onnx. Zoo models run at --size, else at the first file artifact's "
        "size, else at their own. Exits 1 when a tolerance is exceeded.")
    source = add_source_args(parser, model=False, files=False, backend=False)
    source.add_argument("artifacts", nargs="+", metavar="ARTIFACT",
                        help="zoo model name, .onnx file or engine, optionally prefixed backend:")
    parser.add_argument("--images", required=True, metavar="DIR", help="image folder (or one image)")
    parser.add_argument("--max-images", type=validate.positive_int, metavar="N", help="use only the first N images")
    parser.add_argument("--min-agreement", type=validate.fraction, default=DEFAULT_MIN_AGREEMENT, metavar="FRACTION",
                        help="fail when a mask agrees with the first on fewer pixels (default {})".format(
                            DEFAULT_MIN_AGREEMENT))
    parser.add_argument("--max-logit-diff", type=validate.non_negative_float, metavar="ATOL",
                        help="fail when max |logit difference| exceeds ATOL (default {} when both are "
                        "fp32, else not checked)".format(DEFAULT_MAX_LOGIT_DIFF_FP32))
    parser.add_argument("--min-miou", type=validate.fraction, metavar="FRACTION",
                        help="fail when mIoU against the first is lower (0..1)")
    add_output_args(parser, json="file")
    parser.set_defaults(func=run)


def run(args):
    from espnet_edge.apps.compare import check_tolerances, compare_runners, format_report, open_artifacts
    from espnet_edge.cli.common import batch_error
    from espnet_edge.utils.atomic import write_json
    from espnet_edge.utils.parsing import parse_size

    if len(args.artifacts) < 2:
        raise UserError("name at least two artifacts to compare (the first is the reference)")
    for flag in ("min_agreement", "min_miou"):
        value = getattr(args, flag)
        if value is not None and not 0.0 <= value <= 1.0:
            raise UserError("--{} must be between 0 and 1".format(flag.replace("_", "-")))
    validate.output_file(args.json, "--json")
    validate.input_file(args.weights, "--weights", "checkpoint")
    paths = validate.image_folder(args.images, "--images")
    if args.max_images:
        paths = paths[:args.max_images]
    validate.outputs_apart([("--json", args.json)], [("--images", args.images), ("--weights", args.weights)] +
                           [("ARTIFACT", spec.split(":", 1)[-1]) for spec in args.artifacts])
    size = parse_size(args.size) if args.size else None
    frames, failed = _read_frames(paths)
    opened = open_artifacts(args.artifacts, size=size, threads=args.threads, weights=args.weights)
    try:
        report = compare_runners([r for _, r in opened], frames, labels=[label for label, _ in opened])
    finally:
        for _, runner in opened:
            runner.close()
    failures = check_tolerances(report, args.min_agreement, args.max_logit_diff, args.min_miou)
    print(format_report(report))
    if args.json:
        write_json(args.json, report, flag="--json")
        print("wrote " + args.json)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    if failed:
        raise batch_error("image", "read", len(paths), failed, "the comparison above is over the other {}".format(
            len(frames)))
    print("PASSED: every artifact within tolerance of {}".format(args.artifacts[0]))
    return 0


def _read_frames(paths):
    """-> (frames, [(path, error)]): a bad image is skipped and named, the others are compared."""
    import logging

    from espnet_edge.images import read_image

    frames, failed = [], []
    for path in paths:
        try:
            frames.append(read_image(path))
        except UserError as exc:
            failed.append((path, exc))
            if len(paths) > 1:
                logging.getLogger(__name__).warning("skipped %s: %s", path, exc)
    if not frames:
        from espnet_edge.cli.common import batch_error

        raise batch_error("image", "read", len(paths), failed, "nothing was compared")
    return frames, failed
