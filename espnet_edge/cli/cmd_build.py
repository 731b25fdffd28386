"""espnet-edge build: a TensorRT engine (FP32/FP16/INT8) from an espnet-edge ONNX file, on the device."""

import json

from espnet_edge.cli.args import add_build_args, add_output_args, build_options
from espnet_edge.errors import UserError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "build", help="build a TensorRT engine from an ONNX file (run it on the Jetson)",
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
    from espnet_edge.cli import validate

    if args.out:
        validate.output_file(args.out, "--out")
        validate.outputs_apart([("--out", args.out), ("--out", args.out + ".json")], [
            ("MODEL.onnx", args.onnx), ("--calib", getattr(args, "calib", None)),
            ("--calib-cache", getattr(args, "calib_cache", None))])


def run(args):
    if args.onnx and not args.inspect:
        _check_paths(args)
    if args.inspect:
        return inspect(args.inspect)
    if not args.onnx:
        raise UserError("name the ONNX file to build: espnet-edge build MODEL.onnx [--fp16|--int8 --calib DIR]")
    from espnet_edge.runtime.tensorrt.builder import build_engine

    path = build_engine(args.onnx, build_options(args), out=args.out, reuse=not args.force)
    print(path)
    if args.report:
        from espnet_edge.runtime.tensorrt import report
        from espnet_edge.runtime.tensorrt.builder import report_path

        with open(report_path(path)) as handle:
            data = json.load(handle)
        for line in report.summary_lines(data):
            print("  " + line)
        print(report_path(path))
    return 0


def inspect(engine_path):
    import os

    from espnet_edge.runtime.tensorrt import sidecar

    if not os.path.isfile(engine_path):
        raise UserError("engine {} does not exist".format(engine_path))
    meta = sidecar.read_sidecar(engine_path)
    sidecar.verify_engine_file(engine_path, meta)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        meta["this_machine"] = "TensorRT not installed here: engine file checked against its sidecar only"
    else:
        from espnet_edge.errors import MissingDependency
        from espnet_edge.runtime.tensorrt.compat import format_version
        from espnet_edge.runtime.tensorrt.cuda import open_cuda

        try:
            cuda = open_cuda()
        except (UserError, MissingDependency) as exc:
            # TensorRT but no GPU (or no CUDA binding): the sidecar check above is what can be done
            meta["this_machine"] = "TensorRT {} here but no usable GPU ({}): engine file checked against its " \
                                   "sidecar only".format(format_version(tensorrt.__version__), exc)
        else:
            try:
                sidecar.check_compatible(meta, format_version(tensorrt.__version__), cuda.device_name(),
                                         cuda.compute_capability(), engine_path)
            finally:
                cuda.close()
            meta["this_machine"] = "compatible"
    print(json.dumps(meta, indent=2))
    return 0
