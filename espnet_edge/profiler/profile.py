"""One profiled run: idle baseline, warm-up, measured phase — each timestamped — under a sampler.

``profile_run`` does the work and returns (summary: a run_record.RunSummary, samples, raw log);
``write_run`` stores them in ``<out>/<run>/`` (summary.json, samples.csv, tegrastats.log,
settings.json), never over an existing run.
"""

import datetime
import logging
import os
import re
import shutil
import time

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.profiler import samplers, watch
from espnet_edge.profiler.report import write_samples_csv
from espnet_edge.profiler.run_record import Performance
from espnet_edge.profiler.summary import add_trusted_figures, summarize
from espnet_edge.profiler.run_folders import (  # noqa: F401 - the run folder API, used from here
    check_run_name, new_run_dir, publish_run, release_run_dir)
from espnet_edge.utils.atomic import atomic_open, staging_dir, write_json

log = logging.getLogger(__name__)


def default_out_dir():
    """./profiles, in the current directory."""
    from espnet_edge.paths import profiles_dir

    return profiles_dir()


def run_name(label, freq_mhz=None, when=None):
    stamp = (when or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    label = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).strip("_") or "run"
    return "{}-{}{}".format(label, stamp, "-{}MHz".format(freq_mhz) if freq_mhz else "")


def measure(segmenter, warmup, duration, images=None, progress=True):
    """Warm-up then measured inference (runtime.benchmark); returns the run's Performance with the
    wall-clock bounds of both phases, to align with the samples."""
    from espnet_edge.runtime.benchmark import run_benchmark

    called = time.time()
    result = run_benchmark(segmenter, warmup, duration=duration, images=images, progress=progress,
                           label="profile")
    return performance_from_benchmark(result, called)


def performance_from_benchmark(result, called):
    """BenchResult -> Performance: frames, seconds (first start to last end, wall clock), fps = frames /
    seconds, latency, phases. The warm-up phase runs from ``called`` (when run_benchmark was entered)
    to the first measured iteration."""
    iterations = result.iterations or []
    if not iterations:
        raise UserError("the measured phase ran no inference; make --duration longer")
    start, end = iterations[0].start_time, iterations[-1].end_time
    batch = result.batch or 1
    frames = len(iterations) * int(batch)
    seconds = end - start
    return Performance(
        frames=frames, iterations=len(iterations), batch=batch, seconds=seconds,
        fps=frames / seconds if seconds > 0 else None, fps_from_latency=result.fps, latency_ms=result.latency_ms,
        mode=result.mode, warmup_frames=result.warmup, warmup_start=called, warmup_end=start, start=start, end=end)


SETTLE_TIMEOUT_S = defaults.SETTLE_TIMEOUT_S
SETTLE_TOLERANCE = 0.05   # power has settled when two consecutive windows' means differ by <= 5%


def _gpu_cur_file():
    from espnet_edge.jetson import detect

    gpus = detect.find_gpu_devfreq()
    return gpus[0].file("cur_freq") if gpus else None


def _total_points(samples):
    return [(s.t, s.total_mw) for s in samples if s.total_mw is not None]


def power_settled(points, now, window_s, tolerance=SETTLE_TOLERANCE):
    """True when the mean power of the last window is within ``tolerance`` of the window before it."""
    last = [p for t, p in points if now - window_s <= t <= now]
    before = [p for t, p in points if now - 2 * window_s <= t < now - window_s]
    if not last or not before:
        return False
    mean_last, mean_before = sum(last) / float(len(last)), sum(before) / float(len(before))
    return abs(mean_last - mean_before) <= tolerance * max(abs(mean_before), 1.0)


def wait_settled(target_mhz, read_cur_mhz, power_points, interval_ms, timeout_s=SETTLE_TIMEOUT_S):
    """After a clock change: wait until the GPU clock reads back at ``target_mhz`` (0 = rail-gated while
    idle, accepted) and board power has settled. -> {'settled', 'settle_s', 'clock_mhz', 'reason'}."""
    start = time.time()
    window_s = max(0.2, 5 * interval_ms / 1000.0)
    clock_mhz = None
    while True:
        now = time.time()
        clock_mhz = read_cur_mhz() if read_cur_mhz else None
        clock_ok = target_mhz is None or clock_mhz is None or clock_mhz == 0 or abs(clock_mhz - target_mhz) < 0.5
        points = power_points()
        power_ok = power_settled(points, now, window_s) if points else now - start >= window_s
        if clock_ok and power_ok:
            return {"settled": True, "settle_s": now - start, "clock_mhz": clock_mhz, "reason": None,
                    "window_s": window_s}
        if now - start >= timeout_s:
            reason = []
            if not clock_ok:
                reason.append("GPU clock reads {:g} MHz, not the pinned {:g} MHz".format(clock_mhz, target_mhz))
            if not power_ok:
                reason.append("board power still moving by more than {:.0f}% between {:.1f} s windows".format(
                    SETTLE_TOLERANCE * 100, window_s))
            return {"settled": False, "settle_s": now - start, "clock_mhz": clock_mhz,
                    "reason": "; ".join(reason), "window_s": window_s}
        time.sleep(min(0.02, interval_ms / 1000.0))


def _wait_for_sample_after(sampler, t, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        samples = sampler.snapshot()
        if samples and samples[-1].t >= t:
            return True
        time.sleep(0.01)
    return False


def _read_cur_mhz(path):
    from espnet_edge.jetson import sysfs

    def read():
        hz = sysfs.read_hz(path)
        return hz / 1e6 if hz is not None else None
    return read


def settle_clock(target_mhz, timeout_s=SETTLE_TIMEOUT_S, interval_ms=None):
    """After a clock change outside a profiled run (bench --freq): sample the power node and cur_freq
    just long enough to see the clock at ``target_mhz`` and the power settled; -> wait_settled's dict
    plus 'power_source' (the node, or None when only the clock could be watched)."""
    from espnet_edge.profiler import power_node

    interval_ms = interval_ms or power_node.DEFAULT_INTERVAL_MS
    cur_file = _gpu_cur_file()
    node = power_node.PowerNodeSampler(interval_ms, gpu_cur_file=cur_file)
    node.open()
    started = False
    if node.available or cur_file:
        try:
            node.start()
            started = True
        except UserError:
            started = False
    try:
        points = (lambda: _total_points(node.snapshot())) if started and node.available else (lambda: [])
        settle = wait_settled(target_mhz, _read_cur_mhz(cur_file) if cur_file else None, points, interval_ms,
                              timeout_s)
    finally:
        if started:
            node.stop()
    settle["power_source"] = node.describe()
    return settle


def _open_power_node(power_interval_ms):
    """-> (the PowerNodeSampler or None, why the node gives no power or None)."""
    from espnet_edge.profiler import power_node

    if not power_interval_ms:
        return None, None
    cur_file = _gpu_cur_file()
    node = power_node.PowerNodeSampler(power_interval_ms, gpu_cur_file=cur_file)
    node.open()
    note = None if node.available else node.reason
    return (node if node.available or cur_file else None), note


def _settle(sampler, node, pinned_mhz, interval_ms, power_interval_ms, settle_timeout_s):
    if node is not None and node.available:
        points, settle_interval = (lambda: _total_points(node.snapshot())), power_interval_ms
    else:
        points, settle_interval = (lambda: _total_points(sampler.snapshot())), interval_ms
    settle = wait_settled(pinned_mhz, _read_cur_mhz(node.gpu_cur_file) if node and node.gpu_cur_file else None,
                          watch.checked(points, sampler), settle_interval, settle_timeout_s)
    log.info("settled in {:.2f} s{}".format(settle["settle_s"], "" if settle["settled"] else
                                            " (gave up: {})".format(settle["reason"])))
    return settle


def _phases(segmenter, sampler, settle, idle_s, warmup, duration_s, images, progress):
    """Idle baseline, then warm-up and measured inference -> (phases, Performance)."""
    phases = {"settle": {"start": time.time() - settle["settle_s"], "end": time.time()}}
    start = time.time()
    if idle_s > 0:
        log.info("idle baseline: {:.1f} s".format(idle_s))
        watch.sleep(idle_s, sampler)
    phases["idle"] = {"start": start, "end": time.time()}
    performance = measure(watch.Watched(segmenter, sampler), warmup, duration_s, images=images,
                          progress=progress)
    if performance.warmup_start is not None:
        phases["warmup"] = {"start": performance.warmup_start, "end": performance.warmup_end}
    phases["measured"] = {"start": performance.start, "end": performance.end}
    return phases, performance


def _wait_for_last_samples(sampler, node, end, interval_ms):
    """The integral needs a sample at or after the end of the measured phase."""
    _wait_for_sample_after(sampler, end, 3 * interval_ms / 1000.0 + 0.5)
    if node is not None:
        _wait_for_sample_after(node, end, 3 * node.interval_ms / 1000.0 + 0.2)


def profile_run(segmenter, source="auto", interval_ms=defaults.SAMPLE_INTERVAL_MS, idle_s=defaults.PROFILE_IDLE_S,
                warmup=defaults.WARMUP, duration_s=defaults.PROFILE_DURATION_S, images=None, progress=True,
                power_interval_ms=None, pinned_mhz=None, settle_timeout_s=SETTLE_TIMEOUT_S, power_samples_out=None):
    """Sample the board through settling, an idle baseline, a warm-up and a measured phase ->
    (RunSummary, samples, raw log).

    Beside ``source`` (tegrastats...), a PowerNodeSampler reads the INA3221/INA238 input rail and the GPU
    cur_freq every ``power_interval_ms`` (default 10 ms; 0 = off); its records are appended to
    ``power_samples_out`` when a list is given (for power.csv)."""
    from espnet_edge.profiler import power_node, thermal

    if idle_s < 0 or duration_s <= 0:
        raise UserError("--idle must be >= 0 and --duration > 0 seconds")
    if power_interval_ms is None:
        power_interval_ms = power_node.DEFAULT_INTERVAL_MS
    sampler = samplers.make_sampler(source, interval_ms)
    log.info("sampling with {} every {} ms".format(sampler.source, interval_ms))
    node, node_note = _open_power_node(power_interval_ms)
    sampler.start()
    try:
        if node is not None:
            try:
                node.start()
            except UserError as exc:
                node_note, node = "power-node sampler produced nothing ({})".format(exc), None
        if node is not None and node.available:
            log.info("board power from {} every {} ms".format(", ".join(node.describe()["rails"]), power_interval_ms))
        board = thermal.board_settings()
        thermal_start = thermal.read_zones()
        settle = _settle(sampler, node, pinned_mhz, interval_ms, power_interval_ms, settle_timeout_s)
        phases, performance = _phases(segmenter, sampler, settle, idle_s, warmup, duration_s, images, progress)
        thermal_end = thermal.read_zones()
        _wait_for_last_samples(sampler, node, performance.end, interval_ms)
        early = sampler.exited_early()
        if early:
            raise UserError(early)
    finally:
        sampler.stop()
        if node is not None:
            node.stop()
    samples = sampler.snapshot()
    node_samples = node.snapshot() if node is not None else []
    if power_samples_out is not None:
        power_samples_out.extend(node_samples)
    summary = summarize(samples, phases, performance, sampler.source, interval_ms)
    missing = list(sampler.missing)
    summary = summary._replace(
        warnings=list(sampler.warnings) + (list(node.warnings) if node is not None else []),
        missing=missing + [m for m in summary.missing if m not in missing])
    summary = add_trusted_figures(summary, samples, node, node_samples, node_note, settle,
                                  (thermal_start, thermal_end), board, pinned_mhz)
    return summary, samples, sampler.raw_log_text()


def write_power_csv(path, power_samples, phases):
    """power.csv: one row per power-node sample (time.time(), phase, input power mW, GPU cur_freq MHz)."""
    import csv

    from espnet_edge.profiler.report import _phase_of

    with atomic_open(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", "phase", "total_mw", "gpu_cur_mhz"])
        for sample in power_samples:
            writer.writerow([repr(sample.t), _phase_of(sample.t, phases),
                             "" if sample.total_mw is None else sample.total_mw,
                             "" if sample.gpu_cur_mhz is None else sample.gpu_cur_mhz])


def write_run(target, summary, samples, raw_log, settings, power_samples=None):
    """Write the run's files into a temporary folder beside ``target``, then rename it into place."""
    tmp = staging_dir(target)
    try:
        if power_samples:
            write_power_csv(os.path.join(tmp, "power.csv"), power_samples, summary.phases or {})
        write_json(os.path.join(tmp, "summary.json"), summary.to_dict())
        write_json(os.path.join(tmp, "settings.json"), settings)
        write_samples_csv(os.path.join(tmp, "samples.csv"), samples, summary.phases or {},
                          summary.power.total_rails)
        if raw_log is not None:
            # UTF-8 whatever the locale (Python 3.6 under LANG=C): U+FFFD stands where tegrastats printed bad bytes
            with atomic_open(os.path.join(tmp, "tegrastats.log"), encoding="utf-8") as handle:
                handle.write(raw_log)
        publish_run(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
