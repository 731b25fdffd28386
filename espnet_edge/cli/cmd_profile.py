"""espnet-edge profile: FPS, latency, power per rail and energy per frame of one network, in one run."""

import os
import sys

from espnet_edge.cli import validate
from espnet_edge.cli.args import add_clock_args, add_output_args, add_profiling_args, add_source_args
from espnet_edge.cli.common import freqs_from_args, no_empty_folder_left, source_from_args
from espnet_edge.errors import UserError
from espnet_edge.profiler.session import check_measuring_options, profile_one, source_label

OUT_HELP = "parent folder of the run folders (default: profiles/ in the current directory)"


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "profile", help="measure FPS, power and energy per frame of one network",
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
    parser.add_argument("--kernel-iters", type=validate.positive_int, default=20, metavar="N",
                        help="inferences profiled with --kernels (default 20; every kernel launch is replayed)")
    parser.set_defaults(func=run)


def run(args):
    from espnet_edge.profiler.profile import default_out_dir

    if args.interval < 1:
        raise UserError("--interval must be at least 1 ms")
    check_measuring_options(args)
    from espnet_edge.profiler.profile import check_run_name

    source = source_from_args(args)
    if args.name is not None:
        check_run_name(args.name)
    out_dir = validate.output_dir(os.path.abspath(args.out or default_out_dir()), "--out")
    if args.kernels and args.freq:
        raise UserError("--kernels runs at the current GPU clock; pin it first with `espnet-edge clocks`, "
                        "or drop --freq")
    freqs_from_args(args)
    with no_empty_folder_left(out_dir):
        if args.kernels:
            return run_kernels(args, out_dir)
        return _profile(args, source, out_dir)


def _profile(args, source, out_dir):
    import json

    from espnet_edge.cli.common import segmenter_from_args
    from espnet_edge.profiler.report import format_summary
    from espnet_edge.utils.signals import signals_as_interrupt

    with signals_as_interrupt():
        segmenter = segmenter_from_args(args, source=source)
        try:
            target, summary = profile_one(args, segmenter, out_dir, source_label(args), args.freq,
                                          name=args.name, exact=bool(args.name))
        finally:
            segmenter.close()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(format_summary(summary))
        print("wrote {}".format(target))
    return 0


def kernel_workload(args):
    """argv of the workload profiled by --kernels: `espnet-edge bench` on the same network and backend."""
    argv = [sys.executable, "-m", "espnet_edge", "bench"]
    for flag in ("model", "onnx", "engine", "weights", "backend", "size", "threads"):
        value = getattr(args, flag, None)
        if value:
            argv += ["--" + flag, str(value)]
    return argv + ["--warmup", "3", "--iters", str(args.kernel_iters)]


def run_kernels(args, out_dir):
    """profile --kernels: the workload under nvprof/ncu; per-kernel and per-network efficiencies."""
    import shutil

    from espnet_edge.profiler import kernels
    from espnet_edge.profiler.profile import new_run_dir, publish_run, release_run_dir, run_name
    from espnet_edge.utils.atomic import staging_dir

    tool = kernels.choose_tool()  # one-line error off a GPU, before anything is written
    label = source_label(args)
    target = new_run_dir(out_dir, args.name or run_name(label) + "-kernels", exact=bool(args.name))
    try:
        tmp = staging_dir(target)
        try:
            workload = kernel_workload(args)
            result = kernels.profile_kernels(workload, tmp, tool)
            results = {"tool": result.pop("tool"), "workload": workload, "networks": {label: result}}
            kernels.write_results(tmp, results)
            publish_run(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except BaseException:
        release_run_dir(target)
        raise
    network = result["network"]
    print("{} ({}): warp execution {}, global load {}, global store {}, shared {} ({}-weighted)".format(
        label, results["tool"], *["n/a" if network[m] is None else "{:.1f}%".format(network[m])
                                  for m in kernels.METRICS] + [result["weights"]]))
    print("wrote {}".format(target))
    return 0
