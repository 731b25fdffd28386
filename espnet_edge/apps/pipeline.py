"""One frame through the whole pipeline, timed stage by stage, and the threads that overlap them.

Stages (milliseconds, like trtexec's H2D / GPU compute / D2H split):
decode (the source producing a frame), preprocess (host work before the runtime), h2d, compute,
d2h (the runner's own split, ``runner.timings``: every runner fills it, see runtime.base.Timings),
postprocess (runner output -> class map and overlay at the frame size), render (overlay, legend and
HUD). ``glass_to_glass``: from the moment the frame was
captured to the moment it was shown, encoded or served.

Pipelined: a capture thread, an inference thread and the caller's render loop, joined by bounded
buffers. Live sources hand over only the newest item (drop-oldest); files and folders lose nothing
(the producer waits).
"""

import threading
import time

import numpy as np

from espnet_edge import visualize
from espnet_edge import defaults
from espnet_edge.apps.frame_queues import END, LatestFrameSlot, OrderedFrameQueue
from espnet_edge.runtime import benchmark
from espnet_edge.runtime.benchmark import RUNNER_STAGES
from espnet_edge.runtime.segmenter import resize_mask, split_overlay

STAGES = ("decode", "preprocess") + RUNNER_STAGES + ("postprocess", "render")


def _ms(start):
    return (time.perf_counter() - start) * 1000.0


def thread_cpu_s():
    """CPU seconds the calling thread has run (not the time it waited for a core), 0.0 where the
    platform has no thread clock."""
    clock = getattr(time, "CLOCK_THREAD_CPUTIME_ID", None)
    return time.clock_gettime(clock) if clock is not None else 0.0


def infer_frame(segmenter, frame, alpha=defaults.OVERLAY_ALPHA):
    """-> (mask, overlay, timings) for one frame (stage wall times, and ``host_cpu``: the CPU time of
    preprocess and postprocess); overlay is None unless the graph drew it
    (``--fuse-overlay``: then the mask is the network-size class map), else it is made in
    render_frame and the mask has the frame's size."""
    segmenter = segmenter.for_frame(frame)  # a FrameGraphRouter picks the graph for this frame's size
    timings = {}
    start, cpu = time.perf_counter(), thread_cpu_s()
    batch = segmenter.preprocess(frame)
    timings["preprocess"] = _ms(start)
    host_cpu = thread_cpu_s() - cpu
    output = segmenter.infer(batch)
    split = segmenter.runner.timings
    timings.update(h2d=split.h2d, compute=split.compute, d2h=split.d2h)
    start, cpu = time.perf_counter(), thread_cpu_s()
    overlay = None
    if segmenter.info.fused_overlay:  # mask at the network size: enough for the legend
        mask, overlay = split_overlay(np.asarray(output)[0], segmenter.info)
    else:
        mask = resize_mask(segmenter.postprocess(output)[0], (frame.shape[1], frame.shape[0]))
    timings["postprocess"] = _ms(start)
    timings["host_cpu"] = (host_cpu + thread_cpu_s() - cpu) * 1000.0  # the render loop adds its own
    return mask, overlay, timings


LEGEND_SAMPLES = 256  # class-map pixels counted along the shorter side for the legend


def legend_mask(mask):
    """Every n-th pixel of the class map, about LEGEND_SAMPLES along the shorter side: counting a
    2048x1024 map for the legend costs ~27 ms on a workstation core, this ~1 ms. A class covering
    fewer than n x n pixels may be left out of the legend (not out of the overlay)."""
    step = max(1, int(round(min(mask.shape[:2]) / float(LEGEND_SAMPLES))))
    return mask[::step, ::step] if step > 1 else mask


def render_frame(segmenter, frame, mask, overlay, alpha=defaults.OVERLAY_ALPHA, hud=None):
    """Overlay (unless the graph drew it), outlines of dark classes, legend of the classes present and
    the HUD lines; -> the image (wider than the frame when the legend goes beside a small frame)."""
    from espnet_edge.apps.demo import draw_hud

    info = segmenter.info
    image = visualize.overlay(frame, mask, info.palette, alpha) if overlay is None else overlay
    present = visualize.classes_present(legend_mask(mask), len(info.classes))
    image = visualize.decorate(image, mask, info.classes, info.palette, present=present)
    if hud:
        draw_hud(image, hud)
    return image


def stage_stats(records):
    """Per-frame timing dicts -> {stage: {mean, p<q> for each q of defaults.LATENCY_PERCENTILES, min,
    max, count} or None (not measured)} for STAGES and glass_to_glass."""
    return benchmark.stage_stats(records, STAGES + ("glass_to_glass",))


def format_stage_table(stats):
    """Aligned text table of stage_stats: mean and every defaults.LATENCY_PERCENTILES column."""
    columns = ["mean"] + ["p{}".format(q) for q in defaults.LATENCY_PERCENTILES]
    lines = ["{:<15}".format("stage (ms)") + "".join(" {:>9}".format(c) for c in columns)]
    for stage in STAGES + ("glass_to_glass",):
        row = stats.get(stage)
        cells = ["-" if row is None else "{:.2f}".format(row[c]) for c in columns]
        lines.append("{:<15}".format(stage) + "".join(" {:>9}".format(c) for c in cells))
    return lines


class InferenceThread(object):
    """Takes (index, frame, captured_at, decode_ms) items from ``get`` and puts
    (index, frame, captured_at, mask, overlay, timings) into ``out`` (a frame_queues.LatestFrameSlot for
    live sources, an OrderedFrameQueue otherwise); closes ``out`` at END or on an error (kept in
    ``error`` and re-raised by the caller)."""

    def __init__(self, segmenter, get, out, alpha=defaults.OVERLAY_ALPHA):
        self.segmenter = segmenter
        self._get = get
        self.out = out
        self.alpha = alpha
        self.error = None
        self.busy_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference")
        self._thread.daemon = True

    def start(self):
        self._thread.start()
        return self

    def _put(self, item):
        if isinstance(self.out, LatestFrameSlot):
            self.out.put(item)
            return True
        return self.out.put(item, self._stop)

    def _run(self):
        try:
            while not self._stop.is_set():
                item = self._get(0.1)
                if item is None:
                    continue
                if item is END:
                    break
                index, frame, captured_at, decode_ms = item
                start = time.perf_counter()
                mask, overlay, timings = infer_frame(self.segmenter, frame, self.alpha)
                self.busy_s += time.perf_counter() - start
                timings["decode"] = decode_ms
                if not self._put((index, frame, captured_at, mask, overlay, timings)):
                    break
        except BaseException as exc:  # handed to the caller's thread (UserError stays one line there)
            self.error = exc
        self._close()

    def _close(self):
        if isinstance(self.out, LatestFrameSlot):
            self.out.close()
        else:
            self.out.close(self._stop)

    def stop(self):
        self._stop.set()
        if isinstance(self.out, OrderedFrameQueue):
            while self.out.get(timeout=0) not in (None, END):
                pass
        self._thread.join(timeout=10)
