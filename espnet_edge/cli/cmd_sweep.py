"""espnet-edge sweep: profile one or more networks at several GPU clocks; the ESPNet paper's Fig. 7 as PNGs."""

import os

from espnet_edge import api
from espnet_edge.cli.args import (add_clock_args, add_output_args, add_profiling_args, add_source_args, clock_options,
                                  each_source_options, measure_options)
from espnet_edge.errors import UserError
from espnet_edge.profiler.runs import check_weights


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "sweep",
        description="One profiled run per GPU frequency (pinned with the clocks module and restored "
        "afterwards) for each network, then sweep.csv, summary.json and PNG figures after the ESPNet "
        "paper's Fig. 7. --from-logs rebuilds the figures from run folders recorded elsewhere.")
    source = add_source_args(parser, repeat=True)
    source.add_argument("--from-logs", action="append", default=[], metavar="DIR",
                        help="rebuild the report from recorded run folders (repeatable); runs nothing")
    add_profiling_args(parser)
    add_clock_args(parser, freq="sweep", emc=True)
    add_output_args(parser, out="new folder for the sweep, never overwritten (default: "
                    "profiles/sweep-<time> in the current directory)")
    parser.set_defaults(func=run)


def _print(result):
    print("wrote {} ({} runs; figures: {})".format(result.folder, len(result.runs), ", ".join(
        os.path.basename(p) for p in result.figures)))
    for item in result.report["missing"]:
        print("missing: " + item)


def run(args):
    check_weights(args.weights, len(args.model))
    sources = each_source_options(args)
    if args.from_logs:
        if sources or args.freqs:
            raise UserError("--from-logs rebuilds a report from recorded runs; drop --model/--onnx/--engine/--freqs")
        _print(api.sweep_from_logs(args.from_logs, out=args.out))
        return 0
    _print(api.sweep(sources, clock_options(args).freqs, measure_options(args), clock_options(args), out=args.out))
    return 0
