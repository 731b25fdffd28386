"""espnet-edge check-onnx: will TensorRT's ONNX parser take this file? (node by node, no GPU needed)"""

import json

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
    from espnet_edge.cli import validate
    from espnet_edge.runtime import trt_support

    validate.input_file(args.file, "ONNX file", "export")
    table, issues = trt_support.check_model(args.file, args.trt, args.support)
    if args.json:
        print(json.dumps({"file": args.file, "tensorrt": table.version, "matrix": table.source,
                          "passed": not issues, "issues": [i.to_dict() for i in issues]}, indent=2))
    else:
        print("\n".join(trt_support.summarize(table, issues, args.file)))
    return 1 if issues else 0
