"""Profiled runs as `espnet-edge profile` / `sweep` and ``espnet_edge.profile`` / ``sweep`` make them: the
network opened from its SourceOptions, then one profiled run (profiler/session.py); a kernel profile
under nvprof/ncu; a sweep: one profiled run per network and GPU frequency into a new folder, then the
table and the Fig. 7 figures (profiler/sweep.py), or the same report rebuilt from recorded run folders.
Written into staging folders and renamed into place; a stopped sweep keeps its finished runs in
``<out>-incomplete``."""

import contextlib
import datetime
import logging
import os
import shutil
import sys
from typing import List, NamedTuple

from espnet_edge.backends import open_source
from espnet_edge.errors import UserError
from espnet_edge.profiler import accuracy_panels, fig7, kernels
from espnet_edge.profiler.profile import default_out_dir, run_name
from espnet_edge.profiler.run_folders import clean_stale, new_run_dir, publish_run, release_run_dir
from espnet_edge.profiler.session import (ClockOptions, MeasureOptions, check_measuring_options, check_profile,
                                          profile_one)
from espnet_edge.profiler.sweep import build_report, check_freqs, gpu_table_mhz, load_runs, write_report
from espnet_edge.jetson.clocks import check_pinnable
from espnet_edge.runtime.segmenter import Segmenter
from espnet_edge.utils.atomic import check_output_dir, no_empty_folder_left, publish_dir, staging_dir
from espnet_edge.utils.signals import signals_as_interrupt

log = logging.getLogger(__name__)

KERNEL_ITERS = 20   # inferences `profile --kernels` runs under the profiler (every kernel launch is replayed)


def profile(named, measure=None, clock=None, out_dir=None, name=None):
    """One profiled run of ``named`` (a backends.SourceOptions) -> run_record.RunSummary, its run folder
    (``folder``) written under ``out_dir`` (default ./profiles) as ``name`` (default
    <label>-<time>[-<MHz>MHz]); ``clock.freqs``: at most one GPU clock, pinned for the run."""
    measure, clock = measure or MeasureOptions(), clock or ClockOptions()
    source, out_dir, freq = check_profile(named, measure, clock, out_dir, name)
    with no_empty_folder_left(out_dir), signals_as_interrupt():
        segmenter = Segmenter(open_source(source, threads=named.threads))
        try:
            _target, summary = profile_one(segmenter, out_dir, named.label, measure, clock, named, freq,
                                           name=name, exact=bool(name))
        finally:
            segmenter.close()
    return summary


def kernel_workload(named, iters):
    """argv of the workload `profile --kernels` profiles: `espnet-edge bench` on the same network and backend."""
    argv = [sys.executable, "-m", "espnet_edge", "bench"]
    for flag, value in (("model", named.model), ("onnx", named.onnx), ("engine", named.engine),
                        ("weights", named.weights), ("backend", named.backend),
                        ("size", "{}x{}".format(*named.size) if named.size else None), ("threads", named.threads)):
        if value:
            argv += ["--" + flag, str(value)]
    return argv + ["--warmup", "3", "--iters", str(iters)]


def profile_kernels(named, out_dir=None, name=None, iters=KERNEL_ITERS, measure=None, clock=None):
    """Kernel efficiency (Fig. 7e): `bench` on ``named`` under nvprof (JetPack 4.x) or ncu, ``iters``
    inferences, at the GPU clock as it is -> (run folder, results: {'tool', 'workload', 'networks':
    {label: per-kernel and per-network efficiencies}})."""
    _source, out_dir, _freq = check_profile(named, measure or MeasureOptions(), clock or ClockOptions(), out_dir,
                                            name, kernels_run=True)
    with no_empty_folder_left(out_dir):
        return _kernel_run(named, out_dir, name, iters)


def _kernel_run(named, out_dir, name, iters):
    tool = kernels.choose_tool()  # one-line error off a GPU, before anything is written
    label = named.label
    target = new_run_dir(out_dir, name or run_name(label) + "-kernels", exact=bool(name))
    with _filling(target) as tmp:
        workload = kernel_workload(named, iters)
        result = kernels.profile_kernels(workload, tmp, tool)
        results = {"tool": result.pop("tool"), "workload": workload, "networks": {label: result}}
        kernels.write_results(tmp, results)
        publish_run(tmp, target)
    return target, results


@contextlib.contextmanager
def _filling(target):
    """The staging folder of the reserved run folder ``target``, for the body to fill and publish; on a
    failure (Ctrl-C included) the staging folder is removed and ``target`` given back."""
    try:
        tmp = staging_dir(target)
    except BaseException:
        release_run_dir(target)
        raise
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        release_run_dir(target)
        raise


class SweepResult(NamedTuple("SweepResult", [("folder", str), ("runs", list), ("report", dict),
                                              ("figures", List[str])])):
    """The sweep folder, its runs (run_record.RunSummary), the report (profiler/sweep.build_report: the
    table, sensitivities, what is missing) and the figures written (PNG paths)."""
    __slots__ = ()


def check_out(out):
    """Before anything is read or run: ``out`` names a new folder that can be made."""
    if out:
        if os.path.lexists(out):
            raise UserError("{} already exists; a sweep never overwrites: choose a new --out".format(
                os.path.abspath(out)))
        check_output_dir(out, "--out")


def _target(out):
    if out:
        target = os.path.abspath(out)
        clean_stale(os.path.dirname(target))   # what a killed sweep left at this --out goes first
        if os.path.exists(target):
            raise UserError("{} already exists; a sweep never overwrites: choose a new --out".format(target))
        return new_run_dir(os.path.dirname(target), os.path.basename(target), exact=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return new_run_dir(default_out_dir(), "sweep-" + stamp)


def _runs_in(runs_dir, finished):
    """Run folders written completely (``finished``: publish_run renames a run in whole, summary.json
    included), else the empty ones: reservations of this sweep's stopped run."""
    if not os.path.isdir(runs_dir):
        return []
    names = [name for name in os.listdir(runs_dir) if not name.startswith(".")]
    if finished:
        return sorted(n for n in names if os.path.isfile(os.path.join(runs_dir, n, "summary.json")))
    return sorted(n for n in names if os.path.isdir(os.path.join(runs_dir, n)) and not os.listdir(os.path.join(runs_dir, n)))


def _publish_report(runs, tmp, target):
    report = build_report(runs)
    figures = write_report(tmp, report)
    publish_run(tmp, target)
    return SweepResult(target, runs, report, [os.path.join(target, os.path.basename(p)) for p in figures])


def rebuild(folders, out=None):
    """The sweep's table and figures from recorded run folders (or folders of them) -> SweepResult."""
    check_out(out)
    runs = load_runs([os.path.abspath(d) for d in folders])
    target = _target(out)
    with _filling(target) as tmp:
        return _publish_report(runs, tmp, target)


def check_weights(weights, models):
    """--weights is for one zoo model: refused beside several (or none)."""
    if weights and models != 1:
        raise UserError("--weights applies to exactly one --model")


def check_sweep(sources, freqs, measure, clock, out):
    """Everything a sweep asks for, before any work: -> the frequencies to pin, in order."""
    if not sources:
        raise UserError("name what to sweep: --model NAME, --onnx FILE or --engine FILE (repeatable), "
                        "or --from-logs DIR")
    check_weights(any(s.weights for s in sources), sum(1 for s in sources if s.model))
    if not freqs:
        raise UserError("give the GPU frequencies to sweep, e.g. --freqs 114,420,828,1134,1300")
    check_out(out)
    for named in sources:
        named.check_files()
    steps = check_freqs(freqs, gpu_table_mhz())
    check_pinnable(list(freqs), flag="--freqs")
    check_measuring_options(measure, clock)
    for freq, step in sorted(steps.items()):
        if step is not None and abs(step - freq) > 0.01:
            log.info("{} MHz runs at the table step {:g} MHz".format(freq, step))
    labels = [named.label for named in sources]
    if len(set(labels)) != len(labels):
        raise UserError("two sources share the name {!r}; rename one file".format(
            [l for l in labels if labels.count(l) > 1][0]))
    return labels


def _profile_all(sources, labels, freqs, measure, clock, runs_dir):
    runs = []
    with signals_as_interrupt():
        for named, label in zip(sources, labels):
            segmenter = Segmenter(open_source(named.resolve(), threads=named.threads))
            try:
                for index, freq in enumerate(freqs, 1):
                    log.info("{} at {} MHz ({}/{})".format(label, freq, index, len(freqs)))
                    _folder, summary = profile_one(segmenter, runs_dir, label, measure, clock, named, freq,
                                                   name="{}-{}MHz".format(label, freq), exact=True)
                    runs.append(summary)
            finally:
                segmenter.close()
    return runs


def _keep_finished(tmp, target, runs_dir):
    """A stopped sweep: its reserved but unfilled runs given back, its finished runs kept in
    ``<target>-incomplete`` (never deleted), the staging folder removed."""
    for name in _runs_in(runs_dir, finished=False):   # a run stopped right after its reservation
        release_run_dir(os.path.join(runs_dir, name))
    finished = _runs_in(runs_dir, finished=True)   # on disk: a run stopped right after it was written counts
    if finished:
        # never delete a finished run: an earlier stopped sweep's -incomplete folder means -incomplete-2
        kept = new_run_dir(os.path.dirname(target), os.path.basename(target) + "-incomplete")
        publish_run(tmp, kept)
        log.warning("sweep stopped; the {} finished run(s) are in {} (rebuild with --from-logs)".format(
            len(finished), kept))
    shutil.rmtree(tmp, ignore_errors=True)


def sweep(sources, freqs, measure=None, clock=None, out=None):
    """Profile every network of ``sources`` (backends.SourceOptions) at every GPU frequency of ``freqs``
    (MHz) into the new folder ``out`` (default ./profiles/sweep-<time>) -> SweepResult."""
    measure, clock = measure or MeasureOptions(), clock or ClockOptions()
    labels = check_sweep(sources, freqs, measure, clock, out)
    target = _target(out)
    try:
        tmp = staging_dir(target)
    except BaseException:
        release_run_dir(target)
        raise
    runs_dir = os.path.join(tmp, "runs")
    try:
        runs = _profile_all(sources, labels, list(freqs), measure, clock, runs_dir)
        return _publish_report(runs, tmp, target)
    except BaseException:
        release_run_dir(target)
        _keep_finished(tmp, target, runs_dir)
        raise


class ReportResult(NamedTuple("ReportResult", [("folder", str), ("data", dict), ("runs", list),
                                                ("figures", List[str])])):
    """`report`: the report folder, its data (profiler/fig7.build with the accuracy panels; fig7.json),
    the runs read and the PNGs written (the whole figure last)."""
    __slots__ = ()


def check_report_request(folders, out, kernels_files=(), accuracy=()):
    """Before anything is read: runs named, ``out`` a new folder that can be made, every named file here."""
    if not folders:
        raise UserError("name the recorded runs: espnet-edge report SWEEP_OR_RUN_FOLDER... --out DIR")
    target = os.path.abspath(out)
    if os.path.lexists(target):
        raise UserError("{} already exists; a report never overwrites: choose a new --out".format(target))
    check_output_dir(target, "--out")
    for flag, paths in (("--kernels", kernels_files), ("--accuracy", accuracy)):
        for path in paths:
            if not os.path.isfile(path):
                raise UserError("{} {} does not exist".format(flag, path))
    return target


def report(folders, out, power_freqs=None, kernels_files=(), accuracy=(), simulated=None):
    """Fig. 7 of the ESPNet paper for the runs recorded in ``folders`` (sweep or run folders, or folders of
    them) into the new folder ``out``: panels a-g, the table, fig7.html, fig7.json -> ReportResult.
    ``power_freqs``: the two GPU clocks of panels f and g; ``kernels_files``: kernels.json files;
    ``accuracy``: `eval --json` files (eval*.json inside the folders are found by themselves);
    ``simulated`` True labels every panel simulated."""
    target = check_report_request(folders, out, kernels_files, accuracy)
    evals = list(accuracy) + accuracy_panels.find_evals(folders)
    # a sweep folder holds its own summary.json beside runs/: read the runs
    folders = [os.path.join(f, "runs") if os.path.isdir(os.path.join(f, "runs")) else f for f in folders]
    runs = load_runs([os.path.abspath(f) for f in folders])
    data = accuracy_panels.attach(fig7.build(runs, power_freqs, list(kernels_files), simulated), evals)
    tmp = staging_dir(target)
    try:
        pngs = fig7.write_report(tmp, data)
        if os.path.exists(target):
            raise UserError("{} appeared while the report was written; it is never overwritten".format(target))
        publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReportResult(target, data, runs, pngs)
