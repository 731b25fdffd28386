"""`bench --end-to-end`: real frames through the whole pipeline, stage by stage.

Frames are decoded once up front (the decode stage is that time, per image): a camera hands over
decoded frames, and a PNG decode on this CPU alone takes longer than the network. Each timed frame
then goes preprocess -> runner -> postprocess -> render (overlay, legend, HUD). Pipelined (default):
a feeder thread, the inference thread and the render loop overlap, joined by bounded lossless
queues; FPS is frames over wall time. ``pipelined=False``: one frame at a time, FPS = 1 / mean.
"""

import threading
import time

from espnet_edge.apps.pipeline import InferenceThread, infer_frame, render_frame, stage_stats
from espnet_edge.errors import UserError
from espnet_edge.utils.progress import Progress


def decode_frames(images):
    """-> [(frame, decode_ms)] for paths (read with espnet_edge.images) or arrays (decode None)."""
    import numpy as np

    from espnet_edge.images import read_image

    out = []
    for item in images:
        if isinstance(item, np.ndarray):
            out.append((item, None))
            continue
        start = time.perf_counter()
        frame = read_image(item)
        out.append((frame, (time.perf_counter() - start) * 1000.0))
    if not out:
        raise UserError("no images to benchmark end to end")
    return out


def _feeder(frames, queue, count, stop):
    """Puts (index, frame, captured_at, decode_ms) for ``count`` frames (None: until stopped)."""
    index = 0
    while (count is None or index < count) and not stop.is_set():
        frame, decode_ms = frames[index % len(frames)]
        if not queue.put((index, frame, time.perf_counter(), decode_ms), stop):
            return
        index += 1
    queue.close(stop)


def run_end_to_end(segmenter, images, warmup=3, iters=None, duration=None, pipelined=True, alpha=0.5,
                   progress=True, label="bench"):
    """-> dict like runtime.benchmark.run_benchmark's (mode, fps, latency_ms, iterations, ...) plus
    ``stages`` (decode, preprocess, h2d, compute, d2h, postprocess, render, glass_to_glass:
    mean/p50/p99 ms) and ``host_ms_per_frame`` (preprocess + postprocess + render means: CPU work
    outside the runtime)."""
    from espnet_edge.apps.sources import END, OrderedFrameQueue
    from espnet_edge.runtime.benchmark import check_timing, latency_stats

    iters = check_timing(iters, duration, warmup)
    if segmenter.info.batch != 1:
        raise UserError("--end-to-end runs one camera frame at a time; use a batch-1 model")
    frames = decode_frames(images)
    with Progress(warmup, label + " warm-up", enabled=None if progress and warmup else False) as warming:
        for index in range(warmup):
            frame = frames[index % len(frames)][0]
            mask, overlay, _ = infer_frame(segmenter, frame, alpha)
            render_frame(segmenter, frame, mask, overlay, alpha, ["warm-up"])
            warming.update()
    bar = Progress(iters or 0, label, enabled=None if progress else False)
    records, iterations = [], []
    offset = time.time() - time.perf_counter()
    deadline = time.perf_counter() + duration if duration is not None else None
    started = time.perf_counter()
    stop = threading.Event()
    worker = feeder = None
    if pipelined:
        source, results = OrderedFrameQueue(2), OrderedFrameQueue(2)
        feeder = threading.Thread(target=_feeder, args=(frames, source, iters, stop), name="feeder")
        feeder.daemon = True
        feeder.start()
        worker = InferenceThread(segmenter, source.get, results, alpha).start()
    try:
        index = 0
        while iters is None or index < iters:
            if deadline is not None and iters is None and time.perf_counter() >= deadline:
                break
            if pipelined:
                item = results.get(timeout=0.5)
                if item is None:
                    continue
                if item is END:
                    if worker.error is not None:
                        raise worker.error
                    break
                _, frame, captured_at, mask, overlay, timings = item
            else:
                frame, decode_ms = frames[index % len(frames)]
                captured_at = time.perf_counter()
                mask, overlay, timings = infer_frame(segmenter, frame, alpha)
                timings["decode"] = decode_ms
            start = time.perf_counter()
            render_frame(segmenter, frame, mask, overlay, alpha, [label])
            end = time.perf_counter()
            timings["render"] = (end - start) * 1000.0
            timings["glass_to_glass"] = (end - captured_at) * 1000.0
            records.append(timings)
            iterations.append({"start_time": offset + captured_at, "end_time": offset + end,
                               "start_perf": captured_at, "end_perf": end})
            index += 1
            bar.update()
    finally:
        bar.close()
        stop.set()
        if worker is not None:
            worker.stop()
        if feeder is not None:
            feeder.join(timeout=5)
    if not records:
        raise UserError("no frame finished within --duration; give a longer --duration")
    elapsed = iterations[-1]["end_perf"] - started
    stages = stage_stats(records)
    host = sum(stages[s]["mean"] for s in ("preprocess", "postprocess", "render") if stages[s])
    latency = latency_stats([r["glass_to_glass"] for r in records])
    return {
        "mode": "end-to-end", "pipelined": bool(pipelined), "frames": "images", "images": len(frames),
        "frame_size": "{}x{}".format(frames[0][0].shape[1], frames[0][0].shape[0]),
        "batch": 1, "warmup": warmup, "iters": len(records), "elapsed_s": elapsed,
        "fps": len(records) / elapsed if pipelined else 1000.0 / latency["mean"],
        "latency_ms": latency, "stages": stages, "host_ms_per_frame": host,
        "decode_note": "decode: once per image before timing (a camera delivers decoded frames)",
        "iterations": iterations,
    }
