"""espnet-edge compare: run artifacts of one network on the same images and compare with the first."""

from espnet_edge import api
from espnet_edge.apps.compare import (DEFAULT_MAX_LOGIT_DIFF_FP32, DEFAULT_MIN_AGREEMENT, check_request,
                                      format_report)
from espnet_edge.cli import validate
from espnet_edge.cli.args import add_output_args, add_source_args
from espnet_edge.errors import batch_error
from espnet_edge.utils.atomic import write_json


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "compare",
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
    check_request(args.artifacts, args.min_agreement, args.min_miou)
    validate.output_file(args.json, "--json")
    validate.input_file(args.weights, "--weights", "checkpoint")
    paths = validate.image_folder(args.images, "--images")
    if args.max_images:
        paths = paths[:args.max_images]
    validate.outputs_apart([("--json", args.json)], [("--images", args.images), ("--weights", args.weights)] +
                           [("ARTIFACT", spec.split(":", 1)[-1]) for spec in args.artifacts])
    result = api.compare(args.artifacts, paths, size=args.size, threads=args.threads, weights=args.weights,
                         min_agreement=args.min_agreement, max_logit_diff=args.max_logit_diff,
                         min_miou=args.min_miou)
    print(format_report(result.report))
    if args.json:
        write_json(args.json, result.report, flag="--json")
        print("wrote " + args.json)
    if result.failures:
        print("FAILED: " + "; ".join(result.failures))
        return 1
    if result.skipped:
        raise batch_error("image", "read", result.images, result.skipped,
                          "the comparison above is over the other {}".format(result.images - len(result.skipped)))
    print("PASSED: every artifact within tolerance of {}".format(args.artifacts[0]))
    return 0
