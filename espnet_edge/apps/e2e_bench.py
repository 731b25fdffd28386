"""`bench --end-to-end` (and ``espnet_edge.bench(end_to_end=True)``): real frames through the whole
pipeline, stage by stage.

Frames are decoded once up front (the decode stage is that time, per image): a camera hands over
decoded frames, and a PNG decode on this CPU alone takes longer than the network. Each timed frame
then goes preprocess -> runner -> postprocess -> render (overlay, legend, HUD). Pipelined (default):
a feeder thread, the inference thread and the render loop overlap, joined by bounded lossless
queues; FPS is frames over wall time. ``pipelined=False``: one frame at a time, FPS = 1 / mean.
"""

import threading
import time

from espnet_edge import defaults
from espnet_edge.apps.pipeline import InferenceThread, infer_frame, render_frame, stage_stats
from espnet_edge.errors import UserError
from espnet_edge.runtime.benchmark import BenchResult, Iteration, check_timing, latency_stats
from espnet_edge.utils.progress import Progress

DECODE_NOTE = "decode: once per image before timing (a camera delivers decoded frames)"
WAIT = "no frame yet"


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


class _Frames(object):
    """Where timed frames come from: the feeder and inference threads (pipelined), or one frame at a
    time in the caller's thread. ``next(index)`` -> (frame, captured_at, mask, overlay, timings), WAIT
    when no frame came within half a second, or None once the pipeline has finished."""

    def __init__(self, segmenter, frames, iters, alpha, pipelined):
        self.segmenter, self.frames, self.alpha = segmenter, frames, alpha
        self.stop_event = threading.Event()
        self.worker = self.feeder = None
        if pipelined:
            from espnet_edge.apps.sources import OrderedFrameQueue

            source, self.results = OrderedFrameQueue(2), OrderedFrameQueue(2)
            self.feeder = threading.Thread(target=_feeder, args=(frames, source, iters, self.stop_event),
                                           name="feeder")
            self.feeder.daemon = True
            self.feeder.start()
            self.worker = InferenceThread(segmenter, source.get, self.results, alpha).start()

    def next(self, index):
        from espnet_edge.apps.sources import END

        if self.worker is None:
            frame, decode_ms = self.frames[index % len(self.frames)]
            captured_at = time.perf_counter()
            mask, overlay, timings = infer_frame(self.segmenter, frame, self.alpha)
            timings["decode"] = decode_ms
            return frame, captured_at, mask, overlay, timings
        item = self.results.get(timeout=0.5)
        if item is END:
            if self.worker.error is not None:
                raise self.worker.error
            return None
        return WAIT if item is None else item[1:]

    def close(self):
        self.stop_event.set()
        if self.worker is not None:
            self.worker.stop()
        if self.feeder is not None:
            self.feeder.join(timeout=5)


def _warm_up(segmenter, frames, warmup, alpha, progress, label):
    with Progress(warmup, label + " warm-up", enabled=None if progress and warmup else False) as warming:
        for index in range(warmup):
            frame = frames[index % len(frames)][0]
            mask, overlay, _ = infer_frame(segmenter, frame, alpha)
            render_frame(segmenter, frame, mask, overlay, alpha, ["warm-up"])
            warming.update()


def _timed(segmenter, frames, iters, duration, pipelined, alpha, progress, label):
    """-> (per-frame timing dicts, [Iteration], perf_counter at the start)."""
    bar = Progress(iters or 0, label, enabled=None if progress else False)
    records, iterations = [], []
    offset = time.time() - time.perf_counter()
    started = time.perf_counter()
    deadline = started + duration if duration is not None else None
    source = _Frames(segmenter, frames, iters, alpha, pipelined)
    try:
        while iters is None or len(records) < iters:
            if deadline is not None and iters is None and time.perf_counter() >= deadline:
                break
            item = source.next(len(records))
            if item is None:
                break
            if item is WAIT:
                continue
            frame, captured_at, mask, overlay, timings = item
            start = time.perf_counter()
            render_frame(segmenter, frame, mask, overlay, alpha, [label])
            end = time.perf_counter()
            timings["render"] = (end - start) * 1000.0
            timings["glass_to_glass"] = (end - captured_at) * 1000.0
            records.append(timings)
            iterations.append(Iteration(offset + captured_at, offset + end, captured_at, end))
            bar.update()
    finally:
        bar.close()
        source.close()
    return records, iterations, started


def run_end_to_end(segmenter, images, warmup=defaults.WARMUP, iters=None, duration=None, pipelined=True,
                   alpha=defaults.OVERLAY_ALPHA, progress=True, label="bench"):
    """-> BenchResult (runtime.benchmark) of mode 'end-to-end': fps, latency_ms (glass to glass),
    iterations, ``stages`` (decode, preprocess, h2d, compute, d2h, postprocess, render,
    glass_to_glass: statistics per stage) and ``host_ms_per_frame`` (preprocess + postprocess +
    render means: CPU work outside the runtime)."""
    iters = check_timing(iters, duration, warmup)
    if segmenter.info.batch != 1:
        raise UserError("--end-to-end runs one camera frame at a time; use a batch-1 model")
    frames = decode_frames(images)
    _warm_up(segmenter, frames, warmup, alpha, progress, label)
    records, iterations, started = _timed(segmenter, frames, iters, duration, pipelined, alpha, progress, label)
    if not records:
        raise UserError("no frame finished within --duration; give a longer --duration")
    elapsed = iterations[-1].end_perf - started
    stages = stage_stats(records)
    latency = latency_stats([r["glass_to_glass"] for r in records])
    return BenchResult.make(
        mode="end-to-end", pipelined=bool(pipelined), frames="images", images=len(frames),
        frame_size="{}x{}".format(frames[0][0].shape[1], frames[0][0].shape[0]),
        batch=1, warmup=warmup, iters=len(records), elapsed_s=elapsed,
        fps=len(records) / elapsed if pipelined else 1000.0 / latency["mean"],
        latency_ms=latency, stages=stages, timings_note=segmenter.runner.TIMINGS,
        host_ms_per_frame=sum(stages[s]["mean"] for s in ("preprocess", "postprocess", "render") if stages[s]),
        decode_note=DECODE_NOTE, iterations=iterations)
