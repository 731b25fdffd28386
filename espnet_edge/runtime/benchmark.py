"""The compute-only measuring loop behind `espnet-edge bench` (and `profile`/`sweep`, which align its
per-iteration timestamps with power samples), and ``BenchResult``: what `bench --json` writes.

Compute only: the same preprocessed batch through ``runner.infer`` each iteration; the runner's own
``timings`` give the h2d / compute / d2h stages. End to end (the threaded pipeline) is
``apps/e2e_bench.run_end_to_end``; ``espnet_edge.api.bench_segmenter`` runs either for the CLI and the API.
"""

import os
import platform
import time
from typing import Dict, List, Optional

import numpy as np

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.utils.progress import Progress
from espnet_edge.utils.records import Record, record_fields

# the stages a runner measures itself (runtime.base.Timings)
RUNNER_STAGES = ("h2d", "compute", "d2h")


class Iteration(Record, record_fields("Iteration", [
        ("start_time", float), ("end_time", float),    # time.time(): to align with power samples
        ("start_perf", float), ("end_perf", float)])):  # time.perf_counter(): the latency
    __slots__ = ()


class BenchResult(Record, record_fields("BenchResult", [
        ("backend", str), ("model", str), ("size", str), ("mode", str), ("frames", str),
        ("batch", int), ("warmup", int), ("iters", int),
        ("latency_ms", Dict[str, float]), ("fps", float),
        ("stages", Dict[str, Optional[Dict[str, float]]]), ("timings_note", str),
        # end to end (bench --end-to-end)
        ("pipelined", bool), ("images", int), ("frame_size", str), ("elapsed_s", float),
        ("host_ms_per_frame", float), ("decode_note", str),
        ("iterations", List[Iteration]),
        ("runner", dict), ("model_details", dict), ("host", dict),
        ("graph", list),  # end to end with --model: what each frame size ran (apps.frame_graph_choice)
        # pinned GPU clock (bench --freq)
        ("settle", dict), ("freq_requested_mhz", float), ("freq_applied_mhz", float)])):
    """One benchmark run, as `espnet-edge bench --json` writes it and ``espnet_edge.bench`` returns it
    (``to_dict``). ``latency_ms`` {mean, p50, p90, p99 (defaults.LATENCY_PERCENTILES), min, max};
    ``stages`` {stage: the same statistics plus count, or None where not measured}: h2d / compute /
    d2h (the runner's ``timings``), and end to end also decode, preprocess, postprocess, render and
    glass_to_glass; ``timings_note``: how the runner measures its stages. Fields of the other mode
    (and of --freq) are None."""
    __slots__ = ()


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def latency_stats(latencies_ms):
    values = list(latencies_ms)
    stats = {"mean": float(np.mean(values))}
    stats.update(("p{}".format(q), percentile(values, q)) for q in defaults.LATENCY_PERCENTILES)
    stats.update(min=float(np.min(values)), max=float(np.max(values)))
    return stats


def host_details():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name") or line.startswith("Hardware"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except (IOError, OSError):
        pass
    return {"hostname": platform.node(), "machine": platform.machine(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def synthetic_frames(size, count=4):
    width, height = size
    rng = np.random.RandomState(0)
    return [rng.randint(0, 256, size=(height, width, 3)).astype(np.uint8) for _ in range(count)]


def stage_stats(records, stages):
    """Per-call timing dicts -> {stage: latency_stats plus count, or None (no record has it)}."""
    out = {}
    for stage in stages:
        values = [r[stage] for r in records if r.get(stage) is not None]
        out[stage] = dict(latency_stats(values), count=len(values)) if values else None
    return out


def _first_frame(images, size):
    if not images:
        return synthetic_frames(size, count=1)[0]
    if isinstance(images[0], np.ndarray):
        return images[0]
    from espnet_edge.images import read_image

    return read_image(images[0])


def check_timing(iters, duration, warmup):
    """-> iters (defaults.BENCH_ITERS when neither ``iters`` nor ``duration`` is given); one line for a
    bad value."""
    if iters is None and duration is None:
        iters = defaults.BENCH_ITERS
    if iters is not None and iters < 1:
        raise UserError("--iters must be at least 1 (got {}); give 1 or more, or a --duration".format(iters))
    if duration is not None and not duration > 0:
        raise UserError("--duration must be positive (got {}); give the seconds to time".format(duration))
    if warmup < 0:
        raise UserError("--warmup must be 0 or more (got {}); give 0 to skip it".format(warmup))
    return iters


def run_benchmark(segmenter, warmup=defaults.WARMUP, iters=None, duration=None, images=None, progress=True,
                  label="bench"):
    """Time ``segmenter`` (a runtime.segmenter.Segmenter) compute only: one preprocessed batch (the first
    of ``images``, else a synthetic frame) through the runner. Give ``iters`` or ``duration`` (seconds).

    Returns a BenchResult: latency_ms, fps (batch / mean latency), stages (the runner's h2d / compute
    / d2h), iters, warmup, mode 'compute', batch, and ``iterations``: per-iteration start/end both as
    time.time() (wall clock, to align with power logs) and perf_counter (for latency)."""
    iters = check_timing(iters, duration, warmup)
    info = segmenter.info
    runner = segmenter.runner
    batch = _batched(segmenter.preprocess(_first_frame(images, info.frame_size or info.input_size)), info.batch)
    with Progress(warmup, label + " warm-up", enabled=None if progress and warmup else False) as warming:
        for _ in range(warmup):
            runner.infer(batch)
            warming.update()
    bar = Progress(iters or 0, label, enabled=None if progress else False)
    records, splits = [], []
    deadline = time.perf_counter() + duration if duration is not None else None
    try:
        while iters is None or len(records) < iters:
            if deadline is not None and iters is None and time.perf_counter() >= deadline:
                break
            wall = time.time()
            start = time.perf_counter()
            runner.infer(batch)
            end = time.perf_counter()
            records.append(Iteration(wall, wall + (end - start), start, end))
            splits.append(runner.timings._asdict())
            bar.update()
    finally:
        bar.close()
    stats = latency_stats([(r.end_perf - r.start_perf) * 1000.0 for r in records])
    return BenchResult.make(
        mode="compute", frames="one preprocessed frame", batch=info.batch, warmup=warmup, iters=len(records),
        latency_ms=stats, fps=info.batch * 1000.0 / stats["mean"] if stats["mean"] > 0 else None,
        stages=stage_stats(splits, RUNNER_STAGES), timings_note=runner.TIMINGS, iterations=records)


def _batched(batch, count):
    if count > 1:
        return np.ascontiguousarray(np.repeat(batch, count, axis=0))
    return batch
