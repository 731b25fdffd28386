"""espnet-edge build: a TensorRT engine (FP32/FP16/INT8) from an espnet-edge ONNX file, on the device."""

import json

from espnet_edge import api
from espnet_edge.cli import validate
from espnet_edge.cli.args import add_build_args, add_output_args, build_options
from espnet_edge.errors import UserError
from espnet_edge.runtime.tensorrt import report


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "build",
        description="Build a TensorRT engine plus its sidecar JSON (model info, GPU, TensorRT and JetPack "
        "versions, cache key). An engine with the same key is reused. Engines only run on the GPU model "
        "and TensorRT version they were built with, so build on the board that runs them.")
    parser.add_argument("onnx", metavar="MODEL.onnx", nargs="?", help="ONNX file exported by espnet-edge")
    add_build_args(parser)
    add_output_args(parser, out="engine path (default: beside the ONNX, <model>-<precision>.engine)",
                    out_metavar="FILE")
    parser.add_argument("--force", action="store_true", help="rebuild even if a matching engine exists")
    parser.add_argument("--inspect", metavar="ENGINE", help="instead of building: check ENGINE against its "
                        "sidecar (and this machine when TensorRT is here) and print the sidecar")
    parser.set_defaults(func=run)


def _check_paths(args):
    """Before TensorRT is even needed: the engine (and its sidecar) go somewhere writable that is none of
    the inputs (a missing ONNX file is the builder's own one-line error, with how to export it)."""
    if args.out:
        validate.output_file(args.out, "--out")
        validate.outputs_apart([("--out", args.out), ("--out", args.out + ".json")], [
            ("MODEL.onnx", args.onnx), ("--calib", args.calib), ("--calib-cache", args.calib_cache)])


def run(args):
    if args.onnx and not args.inspect:
        _check_paths(args)
    if args.inspect:
        print(json.dumps(api.inspect_engine(args.inspect), indent=2))
        return 0
    if not args.onnx:
        raise UserError("name the ONNX file to build: espnet-edge build MODEL.onnx [--fp16|--int8 --calib DIR]")
    built = api.build(args.onnx, build_options(args), out=args.out, reuse=not args.force)
    print(built.engine)
    if built.report:
        with open(built.report) as handle:
            data = json.load(handle)
        for line in report.summary_lines(data):
            print("  " + line)
        print(built.report)
    return 0
