"""One profiled run: idle baseline, warm-up, measured phase — each timestamped — under a sampler.

``profile_run`` does the work and returns (summary, samples, raw log); ``write_run`` stores them in
``<out>/<run>/`` (summary.json, samples.csv, tegrastats.log, settings.json), never over an existing run.
"""

import datetime
import logging
import os
import re
import shutil
import time

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.profiler import samplers
from espnet_edge.profiler.report import write_samples_csv
from espnet_edge.profiler.summary import summarize
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


def profile_run(segmenter, source="auto", interval_ms=defaults.SAMPLE_INTERVAL_MS, idle_s=defaults.PROFILE_IDLE_S,
                warmup=defaults.WARMUP, duration_s=defaults.PROFILE_DURATION_S, images=None, progress=True,
                power_interval_ms=None, pinned_mhz=None, settle_timeout_s=SETTLE_TIMEOUT_S, power_samples_out=None):
    """Sample the board through settling, an idle baseline, a warm-up and a measured phase.

    Beside ``source`` (tegrastats...), a PowerNodeSampler reads the INA3221/INA238 input rail and the GPU
    cur_freq every ``power_interval_ms`` (default 10 ms; 0 = off); its records are appended to
    ``power_samples_out`` when a list is given (for power.csv)."""
    from espnet_edge.profiler import power_node, thermal, watch

    if idle_s < 0 or duration_s <= 0:
        raise UserError("--idle must be >= 0 and --duration > 0 seconds")
    if power_interval_ms is None:
        power_interval_ms = power_node.DEFAULT_INTERVAL_MS
    sampler = samplers.make_sampler(source, interval_ms)
    log.info("sampling with {} every {} ms".format(sampler.source, interval_ms))
    node, node_note = None, None
    if power_interval_ms:
        cur_file = _gpu_cur_file()
        node = power_node.PowerNodeSampler(power_interval_ms, gpu_cur_file=cur_file)
        node.open()
        if not node.available:
            node_note = node.reason
            if not cur_file:
                node = None
    sampler.start()
    phases = {}
    try:
        if node is not None:
            try:
                node.start()
            except UserError as exc:
                node_note, node = "power-node sampler produced nothing ({})".format(exc), None
        if node is not None:
            if node.available:
                log.info("board power from {} every {} ms".format(", ".join(node.describe()["rails"]), power_interval_ms))
        board = thermal.board_settings()
        thermal_start = thermal.read_zones()
        if node is not None and node.available:
            points, settle_interval = (lambda: _total_points(node.snapshot())), power_interval_ms
        else:
            points, settle_interval = (lambda: _total_points(sampler.snapshot())), interval_ms
        settle = wait_settled(pinned_mhz, _read_cur_mhz(node.gpu_cur_file) if node and node.gpu_cur_file else None,
                              watch.checked(points, sampler), settle_interval, settle_timeout_s)
        phases["settle"] = {"start": time.time() - settle["settle_s"], "end": time.time()}
        log.info("settled in {:.2f} s{}".format(settle["settle_s"], "" if settle["settled"] else
                                           " (gave up: {})".format(settle["reason"])))
        start = time.time()
        if idle_s > 0:
            log.info("idle baseline: {:.1f} s".format(idle_s))
            watch.sleep(idle_s, sampler)
        phases["idle"] = {"start": start, "end": time.time()}
        performance = measure(watch.Watched(segmenter, sampler), warmup, duration_s, images=images, progress=progress)
        if performance.get("warmup_start") is not None:
            phases["warmup"] = {"start": performance["warmup_start"], "end": performance["warmup_end"]}
        phases["measured"] = {"start": performance["start"], "end": performance["end"]}
        thermal_end = thermal.read_zones()
        # the integral needs a sample at or after the end of the measured phase
        _wait_for_sample_after(sampler, performance["end"], 3 * interval_ms / 1000.0 + 0.5)
        if node is not None:
            _wait_for_sample_after(node, performance["end"], 3 * node.interval_ms / 1000.0 + 0.2)
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
    summary["phases"] = phases
    summary["warnings"] = list(sampler.warnings) + (list(node.warnings) if node is not None else [])
    missing = list(sampler.missing)
    summary["missing"] = missing + [m for m in summary["missing"] if m not in missing]
    add_trusted_figures(summary, samples, node, node_samples, node_note, phases, performance, settle,
                        thermal_start, thermal_end, board, pinned_mhz)
    raw = sampler.raw_log_text()
    return summary, samples, raw


def add_trusted_figures(summary, samples, node, node_samples, node_note, phases, performance, settle,
                        thermal_start, thermal_end, board, pinned_mhz):
    """Energy by trapezoidal integration, idle-baseline validity, settle, thermal state, board settings."""
    from espnet_edge.profiler import energy, tegrastats, thermal

    frames = performance.get("frames")
    if node is not None and node.available and _total_points(node_samples):
        figures = energy.energy_figures(_total_points(node_samples), phases, frames,
                                        "power node: {} every {} ms".format(
                                            " + ".join(node.describe()["rails"]), node.interval_ms))
        summary["power"]["source"] = {"kind": "power-node", "node": node.describe(), "samples": len(node_samples)}
    else:
        rails = summary["power"]["total_rails"]
        points = [(s.t, tegrastats.rails_sum(s.rails_mw, rails)) for s in samples]
        note = "{} only ({} every {} ms{})".format(
            summary["source"], summary["power"]["total_method"], summary["interval_ms"],
            "; power node: " + node_note if node_note else "")
        figures = energy.energy_figures(points, phases, frames, note)
        summary["power"]["source"] = {"kind": summary["source"] + " only", "node": None, "note": note}
        if node_note and summary["source"] == "tegrastats":
            summary["warnings"].append("power node not used ({}); energy comes from {} samples".format(
                node_note, summary["source"]))
    summary["energy_mj_per_frame"] = figures
    if figures["gross"] is None:
        summary["missing"].append("energy per frame: no power samples cover the measured phase ({})".format(
            figures["source"]))
    util = summary["utilisation"]
    problems = energy.idle_baseline_problems(util["gpu_pct"]["idle"], util["cpu_pct"]["idle"], figures["above_idle"])
    summary["idle_baseline"] = {"valid": not problems, "problems": problems,
                                "gpu_pct": util["gpu_pct"]["idle"], "cpu_pct": util["cpu_pct"]["idle"],
                                "power_mw": figures["idle_mw"]}
    if problems:
        summary["warnings"].append("idle baseline not valid: {}; energy above idle is not trustworthy".format(
            "; ".join(problems)))
    measured = phases.get("measured") or {}
    clocks_seen = [s.gpu_cur_mhz for s in node_samples
                   if measured and measured["start"] <= s.t <= measured["end"]]
    findings = thermal.throttle_findings(thermal_start, thermal_end, pinned_mhz, clocks_seen)
    first = next((s for s in samples if s.temps_c), None)
    last = next((s for s in reversed(samples) if s.temps_c), None)
    summary["thermal"] = {
        "start": thermal_start, "end": thermal_end,
        "hottest_start": tegrastats.hottest(first) if first else None,
        "hottest_end": tegrastats.hottest(last) if last else None,
        "throttled": bool(findings), "findings": findings,
        "gpu_clock_mhz_min": min([c for c in clocks_seen if c] or [None]) if any(clocks_seen) else None,
    }
    for finding in findings:
        summary["warnings"].append("throttling: " + finding)
    summary["settle"] = settle
    if not settle["settled"]:
        summary["warnings"].append("not settled after {:.1f} s: {}".format(settle["settle_s"], settle["reason"]))
    summary["board_settings"] = board


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
            write_power_csv(os.path.join(tmp, "power.csv"), power_samples, summary.get("phases") or {})
        write_json(os.path.join(tmp, "summary.json"), summary)
        write_json(os.path.join(tmp, "settings.json"), settings)
        write_samples_csv(os.path.join(tmp, "samples.csv"), samples, summary.get("phases") or {},
                          summary["power"]["total_rails"])
        if raw_log is not None:
            # UTF-8 whatever the locale (Python 3.6 under LANG=C): U+FFFD stands where tegrastats printed bad bytes
            with atomic_open(os.path.join(tmp, "tegrastats.log"), encoding="utf-8") as handle:
                handle.write(raw_log)
        publish_run(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
