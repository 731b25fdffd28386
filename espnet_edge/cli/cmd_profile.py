"""espnet-edge profile: FPS, latency, power per rail and energy per frame of one network, in one run."""

import contextlib
import datetime
import os
import platform
import sys

from espnet_edge.cli import validate
from espnet_edge.cli.common import add_source_args, source_from_args
from espnet_edge.errors import UserError
from espnet_edge.profiler.samplers import SOURCES


def add_profiling_args(parser):
    """Options shared by profile and sweep."""
    parser.add_argument("--idle", type=validate.non_negative_float, default=3.0, metavar="S",
                        help="idle baseline before the run, seconds (default 3)")
    parser.add_argument("--duration", type=validate.positive_float, default=10.0, metavar="S",
                        help="measured phase, seconds (default 10)")
    parser.add_argument("--warmup", type=validate.non_negative_int, default=10, metavar="N", help="warm-up inferences (default 10)")
    parser.add_argument("--interval", type=validate.positive_int, default=100, metavar="MS",
                        help="sampling interval in ms (default 100)")
    parser.add_argument("--source", default="auto", choices=SOURCES,
                        help="where samples come from: auto = tegrastats if present, else host "
                        "(psutil + NVML + RAPL)")
    parser.add_argument("--out", metavar="DIR", help="parent folder of the run folders (default: profiles/)")
    parser.add_argument("--power-interval", type=int, default=10, metavar="MS",
                        help="read the board's INA3221/INA238 input-power node every MS ms for the energy "
                        "integral (default 10; 0 = tegrastats only)")
    parser.add_argument("--settle-timeout", type=validate.non_negative_float, default=10.0, metavar="S",
                        help="wait at most S seconds for the GPU clock and board power to settle (default 10)")
    parser.add_argument("--emc", type=int, metavar="MHZ",
                        help="pin the memory (EMC) clock for the run where the board allows it (restored "
                        "afterwards)")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "profile", help="measure FPS, power and energy per frame of one network",
        description="Idle baseline, warm-up and measured phase under tegrastats (or jtop, or psutil/NVML/"
        "RAPL on a PC); writes summary.json, samples.csv, the raw tegrastats log and settings.json to "
        "profiles/<run>/. Figures that cannot be measured here are listed as missing.")
    add_source_args(parser)
    parser.add_argument("--freq", type=validate.positive_int, metavar="MHZ",
                        help="pin the GPU clock to this table step for the run (restored afterwards)")
    add_profiling_args(parser)
    parser.add_argument("--name", help="run folder name (default <model>-<timestamp>[-<freq>MHz]); "
                        "an existing folder is an error")
    parser.add_argument("--json", action="store_true", help="print summary.json instead of the text summary")
    parser.add_argument("--kernels", action="store_true",
                        help="instead: kernel efficiency (Fig. 7e) under nvprof (JetPack 4.x) or ncu (JetPack 5+, "
                        "desktop): kernels.json, kernels.csv, kernel_efficiency.png")
    parser.add_argument("--kernel-iters", type=validate.positive_int, default=20, metavar="N",
                        help="inferences profiled with --kernels (default 20; every kernel launch is replayed)")
    parser.set_defaults(func=run)


def source_label(args):
    if getattr(args, "model", None):
        return args.model
    path = args.onnx or args.engine
    return os.path.splitext(os.path.basename(path))[0]


def settings_of(args, describe=None, freq=None):
    return {
        "command": "espnet-edge " + " ".join(sys.argv[1:]) if sys.argv else None,
        "created": datetime.datetime.now().isoformat(),
        "host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
        "model": getattr(args, "model", None), "onnx": getattr(args, "onnx", None),
        "engine": getattr(args, "engine", None), "backend": getattr(args, "backend", None),
        "size": getattr(args, "size", None), "threads": getattr(args, "threads", None),
        "idle_s": args.idle, "duration_s": args.duration, "warmup": args.warmup,
        "interval_ms": args.interval, "source": args.source,
        "power_interval_ms": getattr(args, "power_interval", None), "emc_mhz": getattr(args, "emc", None),
        "gpu_freq": freq, "runner": describe,
        # a simulated board (tests, demos): sysfs read from a prefix; `report` labels such runs simulated
        "simulated": bool(os.environ.get("ESPNET_EDGE_SYSFS_ROOT")),
    }


@contextlib.contextmanager
def pinned(freq_mhz):
    """pin_gpu(freq) when a frequency is asked for, else nothing; yields the freq facts (or None)."""
    if not freq_mhz:
        yield None
        return
    from espnet_edge.jetson.clocks import pin_gpu

    with pin_gpu(freq_mhz) as pin:
        yield {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz}


@contextlib.contextmanager
def pinned_emc(emc_mhz):
    """pin_emc(MHz) when asked for, else nothing; yields {'requested_mhz', 'applied_mhz'} or None."""
    if not emc_mhz:
        yield None
        return
    from espnet_edge.jetson.emc import pin_emc

    with pin_emc(emc_mhz) as pin:
        yield {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz}


def check_measuring_args(args):
    """Validate the measuring options before any work starts."""
    if getattr(args, "power_interval", 10) is not None and args.power_interval < 0:
        raise UserError("--power-interval must be >= 0 ms (0 = tegrastats only)")
    if getattr(args, "settle_timeout", 10.0) < 0:
        raise UserError("--settle-timeout must be >= 0 seconds")
    if getattr(args, "emc", None) is not None:
        if args.emc <= 0:
            raise UserError("--emc must be a positive memory clock in MHz")
        from espnet_edge.jetson import emc as emc_module

        with emc_module.pin_emc(args.emc, log=None, dry_run=True):
            pass


def profile_one(args, segmenter, out_dir, label, freq_mhz=None, name=None, exact=False):
    """Pin (optionally), profile, write the run folder; returns (folder, summary)."""
    from espnet_edge.profiler.profile import new_run_dir, profile_run, release_run_dir, run_name, write_run

    target = new_run_dir(out_dir, name or run_name(label, freq_mhz), exact=exact)
    try:
        power_samples = []
        with pinned(freq_mhz) as freq, pinned_emc(getattr(args, "emc", None)) as emc:
            summary, samples, raw = profile_run(
                segmenter, source=args.source, interval_ms=args.interval, idle_s=args.idle, warmup=args.warmup,
                duration_s=args.duration, power_interval_ms=getattr(args, "power_interval", None),
                pinned_mhz=freq["applied_mhz"] if freq else None,
                settle_timeout_s=getattr(args, "settle_timeout", 10.0), power_samples_out=power_samples)
        summary["emc_pin"] = emc
        summary["run"] = os.path.basename(target)
        summary["label"] = label
        summary["gpu_freq"] = freq
        describe = None
        try:
            describe = segmenter.runner.describe()
        except Exception:
            pass
        summary["runner"] = describe
        write_run(target, summary, samples, raw, settings_of(args, describe, freq), power_samples=power_samples)
    except BaseException:
        release_run_dir(target)
        raise
    return target, summary


def run(args):
    import json

    from espnet_edge.cli.common import segmenter_from_args
    from espnet_edge.profiler.profile import default_out_dir
    from espnet_edge.utils.signals import signals_as_interrupt
    from espnet_edge.profiler.report import format_summary

    if args.interval < 1:
        raise UserError("--interval must be at least 1 ms")
    if args.freq is not None and args.freq <= 0:
        raise UserError("--freq must be a positive GPU frequency in MHz")
    check_measuring_args(args)
    from espnet_edge.profiler.profile import check_run_name

    source = source_from_args(args)
    if args.name is not None:
        check_run_name(args.name)
    out_dir = validate.output_dir(os.path.abspath(args.out or default_out_dir()), "--out")
    if args.freq:
        from espnet_edge.jetson.clocks import check_pinnable

        check_pinnable([args.freq], flag="--freq")
    if args.kernels:
        return run_kernels(args, out_dir)
    with signals_as_interrupt():
        segmenter = segmenter_from_args(args, source=source)
        try:
            target, summary = profile_one(args, segmenter, out_dir, source_label(args), args.freq,
                                          name=args.name, exact=bool(args.name))
        finally:
            segmenter.close()
    if args.json:
        print(json.dumps(summary, indent=2))
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
    from espnet_edge.profiler.profile import new_run_dir, publish_dir, run_name, staging_dir

    if args.kernel_iters < 1:
        raise UserError("--kernel-iters must be at least 1")
    if args.freq:
        raise UserError("--kernels runs at the current GPU clock; pin it first with `espnet-edge clocks`, "
                        "or drop --freq")
    tool = kernels.choose_tool()  # one-line error off a GPU, before anything is written
    label = source_label(args)
    target = new_run_dir(out_dir, args.name or run_name(label) + "-kernels", exact=bool(args.name))
    tmp = staging_dir(target)
    try:
        workload = kernel_workload(args)
        result = kernels.profile_kernels(workload, tmp, tool)
        results = {"tool": result.pop("tool"), "workload": workload, "networks": {label: result}}
        kernels.write_results(tmp, results)
        publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    network = result["network"]
    print("{} ({}): warp execution {}, global load {}, global store {}, shared {} ({}-weighted)".format(
        label, results["tool"], *["n/a" if network[m] is None else "{:.1f}%".format(network[m])
                                  for m in kernels.METRICS] + [result["weights"]]))
    print("wrote {}".format(target))
    return 0
