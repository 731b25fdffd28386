"""espnet-edge profile: FPS, latency, power per rail and energy per frame of one network, in one run."""

import contextlib
import datetime
import os
import platform
import sys

from espnet_edge.cli import validate
from espnet_edge.cli.common import add_source_args, check_source_args
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
        "gpu_freq": freq, "runner": describe,
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


def profile_one(args, segmenter, out_dir, label, freq_mhz=None, name=None, exact=False):
    """Pin (optionally), profile, write the run folder; returns (folder, summary)."""
    from espnet_edge.profiler.profile import new_run_dir, profile_run, release_run_dir, run_name, write_run

    target = new_run_dir(out_dir, name or run_name(label, freq_mhz), exact=exact)
    try:
        with pinned(freq_mhz) as freq:
            summary, samples, raw = profile_run(segmenter, source=args.source, interval_ms=args.interval,
                                                idle_s=args.idle, warmup=args.warmup, duration_s=args.duration)
        summary["run"] = os.path.basename(target)
        summary["label"] = label
        summary["gpu_freq"] = freq
        describe = None
        try:
            describe = segmenter.runner.describe()
        except Exception:
            pass
        summary["runner"] = describe
        write_run(target, summary, samples, raw, settings_of(args, describe, freq))
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
    from espnet_edge.profiler.profile import check_run_name

    check_source_args(args)
    if args.name is not None:
        check_run_name(args.name)
    out_dir = validate.output_dir(os.path.abspath(args.out or default_out_dir()), "--out")
    if args.freq:
        from espnet_edge.jetson.clocks import check_pinnable

        check_pinnable([args.freq], flag="--freq")
    with signals_as_interrupt():
        segmenter = segmenter_from_args(args)
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
