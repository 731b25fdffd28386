"""espnet-edge check-onnx: will TensorRT's ONNX parser take this file? (node by node, no GPU needed)"""

import json

from espnet_edge import api
from espnet_edge.cli import validate
from espnet_edge.cli.args import add_output_args, add_trt_check_args

def add_parser(subparsers):
    parser = subparsers.add_parser(
        "check-onnx",
        description="Check every node, the opset and the tensor types of an ONNX file against the "
        "ONNX operator support matrix of a TensorRT version. Exit 0 when it passes, 1 when not.")
    parser.add_argument("file", help="ONNX file")
    add_trt_check_args(parser)
    add_output_args(parser, json="print")
    parser.set_defaults(func=run)


def run(args):
    validate.input_file(args.file, "ONNX file", "export")
    check = api.check_onnx(args.file, args.trt, args.support)
    print(json.dumps(check.to_dict(), indent=2) if args.json else "\n".join(check.lines()))
    return 0 if check.passed else 1
