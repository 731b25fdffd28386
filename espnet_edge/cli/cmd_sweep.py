"""espnet-edge sweep: profile one or more networks at several GPU clocks; the ESPNet paper's Fig. 7 as PNGs."""

import argparse
import datetime
import logging
import os
import shutil

from espnet_edge.cli import validate
from espnet_edge.cli.args import add_clock_args, add_output_args, add_profiling_args, add_source_args
from espnet_edge.profiler.session import check_measuring_options, profile_one, source_label
from espnet_edge.errors import UserError

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "sweep", help="profile networks across GPU frequencies and plot FPS/sensitivity/power/energy",
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


def _sources(args):
    sources = [("model", v) for v in args.model] + [("onnx", v) for v in args.onnx] + \
              [("engine", v) for v in args.engine]
    if args.weights and len(args.model) != 1:
        raise UserError("--weights applies to exactly one --model")
    return sources


def _source_args(args, kind, value):
    single = argparse.Namespace(**vars(args))
    single.model = value if kind == "model" else None
    single.onnx = value if kind == "onnx" else None
    single.engine = value if kind == "engine" else None
    return single


def _check_out(args):
    """Before anything is read or run: --out names a new folder that can be made."""
    if args.out:
        if os.path.lexists(args.out):
            raise UserError("{} already exists; a sweep never overwrites: choose a new --out".format(
                os.path.abspath(args.out)))
        validate.output_dir(args.out, "--out")


def _target(args):
    from espnet_edge.profiler.profile import default_out_dir, new_run_dir
    from espnet_edge.profiler.run_folders import clean_stale

    if args.out:
        target = os.path.abspath(args.out)
        clean_stale(os.path.dirname(target))   # what a killed sweep left at this --out goes first
        if os.path.exists(target):
            raise UserError("{} already exists; a sweep never overwrites: choose a new --out".format(target))
        return new_run_dir(os.path.dirname(target), os.path.basename(target), exact=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return new_run_dir(default_out_dir(), "sweep-" + stamp)


def _finish(tmp, target):
    from espnet_edge.profiler.profile import publish_run

    publish_run(tmp, target)


def _finished_runs(runs_dir):
    """Run folders written completely (publish_dir renames a run in whole, summary.json included)."""
    if not os.path.isdir(runs_dir):
        return []
    return sorted(name for name in os.listdir(runs_dir) if not name.startswith(".")
                  and os.path.isfile(os.path.join(runs_dir, name, "summary.json")))


def _unfilled_runs(runs_dir):
    """Empty run folders in this sweep's own staging folder: reservations of its stopped run."""
    if not os.path.isdir(runs_dir):
        return []
    return sorted(name for name in os.listdir(runs_dir) if not name.startswith(".")
                  and os.path.isdir(os.path.join(runs_dir, name)) and not os.listdir(os.path.join(runs_dir, name)))


def _report(runs, tmp, target):
    from espnet_edge.profiler.sweep import build_report, write_report

    report = build_report(runs)
    pngs = write_report(tmp, report)
    _finish(tmp, target)
    print("wrote {} ({} runs; figures: {})".format(target, len(runs), ", ".join(
        os.path.basename(p) for p in pngs)))
    for item in report["missing"]:
        print("missing: " + item)
    return report


def run_from_logs(args):
    from espnet_edge.profiler.profile import release_run_dir
    from espnet_edge.utils.atomic import staging_dir
    from espnet_edge.profiler.sweep import load_runs

    if _sources(args) or args.freqs:
        raise UserError("--from-logs rebuilds a report from recorded runs; drop --model/--onnx/--engine/--freqs")
    _check_out(args)
    runs = load_runs([os.path.abspath(d) for d in args.from_logs])
    target = _target(args)
    try:
        tmp = staging_dir(target)
        try:
            _report(runs, tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except BaseException:
        release_run_dir(target)
        raise
    return 0


def run(args):
    from espnet_edge.cli.common import freqs_from_args, segmenter_from_args
    from espnet_edge.profiler.profile import new_run_dir, publish_run, release_run_dir
    from espnet_edge.utils.atomic import staging_dir
    from espnet_edge.utils.signals import signals_as_interrupt
    from espnet_edge.profiler.sweep import check_freqs, gpu_table_mhz

    if args.from_logs:
        return run_from_logs(args)
    sources = _sources(args)
    if not sources:
        raise UserError("name what to sweep: --model NAME, --onnx FILE or --engine FILE (repeatable), "
                        "or --from-logs DIR")
    if not args.freqs:
        raise UserError("give the GPU frequencies to sweep, e.g. --freqs 114,420,828,1134,1300")
    _check_out(args)
    for kind, value in sources:
        if kind != "model":
            validate.input_file(value, "--" + kind, "ONNX file" if kind == "onnx" else "engine")
    validate.input_file(args.weights, "--weights", "checkpoint")
    steps = check_freqs(args.freqs, gpu_table_mhz())
    freqs = freqs_from_args(args)
    check_measuring_options(args)
    for freq, step in sorted(steps.items()):
        if step is not None and abs(step - freq) > 0.01:
            log.info("{} MHz runs at the table step {:g} MHz".format(freq, step))
    labels = [source_label(_source_args(args, kind, value)) for kind, value in sources]
    if len(set(labels)) != len(labels):
        raise UserError("two sources share the name {!r}; rename one file".format(
            [l for l in labels if labels.count(l) > 1][0]))
    target = _target(args)
    try:
        tmp = staging_dir(target)
    except BaseException:
        release_run_dir(target)
        raise
    runs_dir = os.path.join(tmp, "runs")
    runs = []
    try:
        with signals_as_interrupt():
            for (kind, value), label in zip(sources, labels):
                single = _source_args(args, kind, value)
                segmenter = segmenter_from_args(single)
                try:
                    for index, freq in enumerate(freqs, 1):
                        log.info("{} at {} MHz ({}/{})".format(label, freq, index, len(freqs)))
                        _folder, summary = profile_one(single, segmenter, runs_dir, label, freq,
                                                       name="{}-{}MHz".format(label, freq), exact=True)
                        runs.append(summary)
                finally:
                    segmenter.close()
        _report(runs, tmp, target)
    except BaseException:
        release_run_dir(target)
        for name in _unfilled_runs(runs_dir):   # a run stopped right after its reservation: give it back
            release_run_dir(os.path.join(runs_dir, name))
        finished = _finished_runs(runs_dir)   # on disk: a run stopped right after it was written counts
        if finished:
            # never delete a finished run: an earlier stopped sweep's -incomplete folder means -incomplete-2
            kept = new_run_dir(os.path.dirname(target), os.path.basename(target) + "-incomplete")
            publish_run(tmp, kept)
            log.warning("sweep stopped; the {} finished run(s) are in {} (rebuild with --from-logs)".format(
                len(finished), kept))
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return 0
