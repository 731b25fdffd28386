"""One profiled run: idle baseline, warm-up, measured phase — each timestamped — under a sampler.

``profile_run`` does the work and returns (summary, samples, raw log); ``write_run`` stores them in
``<out>/<run>/`` (summary.json, samples.csv, tegrastats.log, settings.json), never over an existing run.
"""

import datetime
import errno
import os
import re
import shutil
import sys
import tempfile
import time

from espnet_edge.errors import UserError
from espnet_edge.profiler import samplers
from espnet_edge.profiler.report import write_samples_csv
from espnet_edge.profiler.summary import summarize
from espnet_edge.utils.atomic import atomic_open, ensure_writable_dir, write_json


def default_out_dir():
    """The repository's top-level profiles/ when running from a checkout, else ./profiles."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isfile(os.path.join(repo, "profiles", "README.md")):
        return os.path.join(repo, "profiles")
    return os.path.abspath("profiles")


def run_name(label, freq_mhz=None, when=None):
    stamp = (when or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    label = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).strip("_") or "run"
    return "{}-{}{}".format(label, stamp, "-{}MHz".format(freq_mhz) if freq_mhz else "")


def log(message):
    sys.stderr.write("espnet-edge: {}\n".format(message))
    sys.stderr.flush()


def measure(segmenter, warmup, duration, images=None, progress=True):
    """Warm-up then measured inference (runtime.benchmark); returns the performance dict with the
    wall-clock bounds of both phases, to align with the samples."""
    from espnet_edge.runtime.benchmark import run_benchmark

    called = time.time()
    result = run_benchmark(segmenter, warmup, duration=duration, images=images, progress=progress,
                           label="profile")
    return performance_from_benchmark(result, called)


def performance_from_benchmark(result, called):
    """frames, seconds (first start to last end, wall clock), fps = frames / seconds, latency, phases.

    The warm-up phase runs from ``called`` (when run_benchmark was entered) to the first measured
    iteration."""
    iterations = result.get("iterations") or []
    if not iterations:
        raise UserError("the measured phase ran no inference; make --duration longer")
    start, end = iterations[0]["start_time"], iterations[-1]["end_time"]
    frames = len(iterations) * int(result.get("batch") or 1)
    seconds = end - start
    return {
        "frames": frames, "iterations": len(iterations), "batch": result.get("batch") or 1,
        "seconds": seconds, "fps": frames / seconds if seconds > 0 else None,
        "fps_from_latency": result.get("fps"), "latency_ms": result.get("latency_ms"),
        "mode": result.get("mode"), "warmup_frames": result.get("warmup"),
        "warmup_start": called, "warmup_end": start, "start": start, "end": end,
    }


def profile_run(segmenter, source="auto", interval_ms=100, idle_s=2.0, warmup=10, duration_s=10.0,
                images=None, progress=True):
    """Sample the board through an idle baseline, a warm-up and a measured phase."""
    if idle_s < 0 or duration_s <= 0:
        raise UserError("--idle must be >= 0 and --duration > 0 seconds")
    sampler = samplers.make_sampler(source, interval_ms)
    log("sampling with {} every {} ms".format(sampler.source, interval_ms))
    sampler.start()
    phases = {}
    try:
        start = time.time()
        if idle_s > 0:
            log("idle baseline: {:.1f} s".format(idle_s))
            time.sleep(idle_s)
        phases["idle"] = {"start": start, "end": time.time()}
        performance = measure(segmenter, warmup, duration_s, images=images, progress=progress)
        if performance.get("warmup_start") is not None:
            phases["warmup"] = {"start": performance["warmup_start"], "end": performance["warmup_end"]}
        phases["measured"] = {"start": performance["start"], "end": performance["end"]}
        early = sampler.exited_early()
        if early:
            raise UserError(early)
    finally:
        sampler.stop()
    samples = sampler.snapshot()
    summary = summarize(samples, phases, performance, sampler.source, interval_ms)
    summary["phases"] = phases
    summary["warnings"] = list(sampler.warnings)
    missing = list(sampler.missing)
    summary["missing"] = missing + [m for m in summary["missing"] if m not in missing]
    raw = sampler.raw_log_text()
    return summary, samples, raw


def check_run_name(name, flag="--name"):
    """A run folder name is one path component: never a path that would land outside --out."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise UserError("{} {!r} must be a folder name, not a path (no '/', not '.' or '..'); choose the "
                        "parent folder with --out".format(flag, name))
    return name


def new_run_dir(out_dir, name, exact=False, flag="--out"):
    """Reserve ``out_dir/name`` (or name-2, -3... unless ``exact``) by creating it empty: mkdir is atomic,
    so two runs starting at the same moment get different folders. ``write_run``/``publish_dir`` fill it;
    ``release_run_dir`` gives it back when the run fails."""
    check_run_name(name)
    ensure_writable_dir(out_dir, flag)
    for index in range(1, 1000):
        target = os.path.join(out_dir, name if index == 1 else "{}-{}".format(name, index))
        try:
            os.mkdir(target)
            return target
        except FileExistsError:
            if exact:
                raise UserError("{} already exists; a run folder is never overwritten: choose another "
                                "--name or --out".format(target))
        except OSError as exc:
            raise UserError("cannot create run folder {}: {}; choose another {}".format(
                target, exc.strerror or exc, flag))
    raise UserError("too many runs named {} in {}".format(name, out_dir))


def release_run_dir(target):
    """Remove a reserved run folder that was never filled (the run failed or was interrupted)."""
    try:
        os.rmdir(target)
    except OSError:
        pass


def write_run(target, summary, samples, raw_log, settings):
    """Write the run's files into a temporary folder beside ``target``, then rename it into place."""
    tmp = staging_dir(target)
    try:
        write_json(os.path.join(tmp, "summary.json"), summary)
        write_json(os.path.join(tmp, "settings.json"), settings)
        write_samples_csv(os.path.join(tmp, "samples.csv"), samples, summary.get("phases") or {},
                          summary["power"]["total_rails"])
        if raw_log is not None:
            with atomic_open(os.path.join(tmp, "tegrastats.log")) as handle:
                handle.write(raw_log)
        publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def staging_dir(target):
    """A new hidden temporary folder beside ``target``, to fill and then hand to ``publish_dir``."""
    parent = os.path.dirname(os.path.abspath(target))
    ensure_writable_dir(parent)
    return tempfile.mkdtemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=parent)


def publish_dir(tmp, target):
    """Rename a finished staging folder into place (``target`` absent, or the empty folder new_run_dir
    reserved), with the permissions a plain mkdir would give (mkdtemp/mkstemp make 0700/0600 entries)."""
    mask = os.umask(0)
    os.umask(mask)
    for root, dirs, files in os.walk(tmp):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)
    os.chmod(tmp, 0o777 & ~mask)
    try:
        os.rename(tmp, target)   # replaces only an empty folder: a filled one raises
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
            raise UserError("{} was filled by someone else while we ran; it is never overwritten (results "
                            "left in {})".format(target, tmp))
        raise

