"""espnet-edge profile: FPS, latency, power per rail and energy per frame of one network, in one run."""

import json
import os

from espnet_edge import api
from espnet_edge.cli import validate
from espnet_edge.cli.args import (add_clock_args, add_output_args, add_profiling_args, add_source_args, clock_options,
                                  measure_options, output_options, source_options)
from espnet_edge.profiler import kernels
from espnet_edge.profiler.profile import default_out_dir
from espnet_edge.profiler.report import format_summary
from espnet_edge.profiler.runs import KERNEL_ITERS

OUT_HELP = "parent folder of the run folders (default: profiles/ in the current directory)"


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "profile",
        description="Idle baseline, warm-up and measured phase under tegrastats (or jtop, or psutil/NVML/"
        "RAPL on a PC); writes summary.json, samples.csv, the raw tegrastats log and settings.json to "
        "profiles/<run>/. Figures that cannot be measured here are listed as missing.")
    add_source_args(parser)
    add_profiling_args(parser)
    add_clock_args(parser, freq="one", emc=True)
    outputs = add_output_args(parser, out=OUT_HELP, json="print")
    outputs.add_argument("--name", help="run folder name (default <model>-<timestamp>[-<freq>MHz]); "
                         "an existing folder is an error")
    parser.add_argument("--kernels", action="store_true",
                        help="instead: kernel efficiency (Fig. 7e) under nvprof (JetPack 4.x) or ncu (JetPack 5+, "
                        "desktop): kernels.json, kernels.csv, kernel_efficiency.png")
    parser.add_argument("--kernel-iters", type=validate.positive_int, default=KERNEL_ITERS, metavar="N",
                        help="inferences profiled with --kernels (default %(default)s; every kernel launch is "
                        "replayed)")
    parser.set_defaults(func=run)


def run(args):
    named, measure, clock = source_options(args), measure_options(args), clock_options(args)
    out_dir = output_options(args).out or default_out_dir()
    if args.kernels:
        target, results = api.profile_kernels(named, out_dir, args.name, args.kernel_iters, measure, clock)
        _print_kernels(named.label, target, results)
        return 0
    summary = api.profile(named, measure, clock, out_dir=out_dir, name=args.name)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(format_summary(summary))
        print("wrote {}".format(summary.folder))
    return 0


def _print_kernels(label, target, results):
    network = results["networks"][label]["network"]
    print("{} ({}): warp execution {}, global load {}, global store {}, shared {} ({}-weighted)".format(
        label, results["tool"], *["n/a" if network[m] is None else "{:.1f}%".format(network[m])
                                  for m in kernels.METRICS] + [results["networks"][label]["weights"]]))
    print("wrote {}".format(os.path.abspath(target)))
