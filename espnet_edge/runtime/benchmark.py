"""The measuring loop behind `espnet-edge bench` (and `profile`/`sweep`, which align its per-iteration
timestamps with power samples).

Compute-only: the same preprocessed batch through ``runner.infer`` each iteration.
End-to-end: per iteration one real frame through preprocess + infer + argmax + colourise.
"""

import os
import platform
import time

import numpy as np

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.utils.progress import Progress


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


def _load_frames(images, size):
    if images is None:
        return synthetic_frames(size), "synthetic"
    frames = []
    for item in images:
        if isinstance(item, np.ndarray):
            frames.append(item)
        else:
            from espnet_edge.images import read_image

            frames.append(read_image(item))
    if not frames:
        raise UserError("no images to benchmark end to end")
    return frames, "images"


def check_timing(iters, duration, warmup):
    """-> iters (100 when neither ``iters`` nor ``duration`` is given); one line for a bad value."""
    if iters is None and duration is None:
        iters = 100
    if iters is not None and iters < 1:
        raise UserError("--iters must be at least 1 (got {}); give 1 or more, or a --duration".format(iters))
    if duration is not None and not duration > 0:
        raise UserError("--duration must be positive (got {}); give the seconds to time".format(duration))
    if warmup < 0:
        raise UserError("--warmup must be 0 or more (got {}); give 0 to skip it".format(warmup))
    return iters


def run_benchmark(segmenter, warmup=defaults.WARMUP, iters=None, duration=None, end_to_end=False, images=None,
                  progress=True, label="bench"):
    """Time ``segmenter`` (a runtime.segmenter.Segmenter). Give ``iters`` or ``duration`` (seconds).

    Returns a dict: latency_ms {mean,p50,p90,p99,min,max}, fps (frames/s: batch / mean latency),
    iters, warmup, mode, batch, and ``iterations``: per-iteration start/end both as time.time()
    (wall clock, to align with power logs) and perf_counter (for latency)."""
    iters = check_timing(iters, duration, warmup)
    info = segmenter.info
    frames, frame_source = _load_frames(images, info.frame_size or info.input_size)
    batch = _batched(segmenter.preprocess(frames[0]), info.batch)

    def step(index):
        if end_to_end:
            frame = frames[index % len(frames)]
            mask = segmenter.postprocess(segmenter.infer(_batched(segmenter.preprocess(frame), info.batch)))
            segmenter.colorize(mask[0])
        else:
            segmenter.infer(batch)

    with Progress(warmup, label + " warm-up", enabled=None if progress and warmup else False) as warming:
        for index in range(warmup):
            step(index)
            warming.update()
    bar = Progress(iters or 0, label, enabled=None if progress else False)
    records = []
    deadline = time.perf_counter() + duration if duration is not None else None
    index = 0
    try:
        while True:
            if iters is not None and index >= iters:
                break
            if deadline is not None and iters is None and time.perf_counter() >= deadline:
                break
            wall = time.time()
            start = time.perf_counter()
            step(index)
            end = time.perf_counter()
            records.append({"start_time": wall, "end_time": wall + (end - start),
                            "start_perf": start, "end_perf": end})
            index += 1
            bar.update()
    finally:
        bar.close()
    latencies = [(r["end_perf"] - r["start_perf"]) * 1000.0 for r in records]
    stats = latency_stats(latencies)
    return {
        "mode": "end-to-end" if end_to_end else "compute",
        "frames": frame_source if end_to_end else "one preprocessed frame",
        "batch": info.batch, "warmup": warmup, "iters": len(records),
        "latency_ms": stats, "fps": info.batch * 1000.0 / stats["mean"] if stats["mean"] > 0 else None,
        "iterations": records,
    }


def _batched(batch, count):
    if count > 1:
        return np.ascontiguousarray(np.repeat(batch, count, axis=0))
    return batch
