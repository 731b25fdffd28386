"""The live demo: frames from a source, segmented by any runner, drawn with legend and HUD.

Three threads overlap: capture (frame_queues.FrameGrabber), inference (apps.pipeline.InferenceThread) and
this one, which draws, shows, saves and streams (--output, apps.streams).
"""

import os
import sys
import time

from espnet_edge import defaults, visualize
from espnet_edge.apps import outputs as files
from espnet_edge.apps.pipeline import InferenceThread, render_frame, stage_stats, thread_cpu_s
from espnet_edge.apps.frame_queues import END, FrameGrabber, LatestFrameSlot, OrderedFrameQueue
from espnet_edge.apps.sources import opencv_build_flags
from espnet_edge.apps.streams import open_sinks
from espnet_edge.errors import UserError
from espnet_edge.jetson import detect, sysfs
from espnet_edge.utils.signals import StopFlag, ignore_interrupts

WINDOW = "espnet-edge demo"


def display_problem(environ=None, platform=None, gui=None):
    """-> None if a window can be shown here, else the reason (for the --no-display hint)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if gui is None:
        gui = opencv_build_flags()["gui"]
    if not gui:
        return "this OpenCV build has no GUI support (e.g. opencv-python-headless)"
    if platform.startswith("linux") and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


def gpu_freq_reader():
    """-> a callable giving the current GPU clock in MHz, or None off a Jetson (never raises).

    The GPU devfreq entry is found once (espnet_edge.jetson.detect); each call reads its cur_freq.
    """
    try:
        gpus = detect.find_gpu_devfreq()
    except Exception:  # no Jetson part, unreadable sysfs: show nothing
        gpus = []
    if not gpus:
        return lambda: None
    cur_freq = gpus[0].file("cur_freq")

    def read():
        hz = sysfs.read_hz(cur_freq)
        return hz / 1e6 if hz is not None else None

    return read


def hud_lines(fps, latency_ms, gpu_mhz=None, label=None, glass_ms=None, stages=None, glass_label=None):
    """HUD text: label, FPS, latency (preprocess + runner + postprocess), glass-to-glass (capture to
    shown/encoded/served, of the previous frame; ``glass_label`` names it otherwise, e.g. for a file
    read ahead), GPU clock, and a stage line when given."""
    lines = []
    if label:
        lines.append(label)
    lines.append("FPS {:.1f}".format(fps) if fps else "FPS -")
    lines.append("latency {:.1f} ms".format(latency_ms) if latency_ms is not None else "latency -")
    if glass_ms is not None:
        lines.append("{} {:.0f} ms".format(glass_label or "glass-to-glass", glass_ms))
    if stages:
        lines.append("pre {:.1f} | run {:.1f} | post {:.1f} | draw {:.1f} ms".format(
            stages.get("preprocess") or 0.0, stages.get("compute") or 0.0, stages.get("postprocess") or 0.0,
            stages.get("render") or 0.0))
    if gpu_mhz:
        lines.append("GPU {:.0f} MHz".format(gpu_mhz))
    return lines


HUD_MAX_SHARE = 0.2  # the HUD may hide at most this share of the image; lines past it are left out


def hud_box(shape, lines):
    """-> (lines that fit, font scale, thickness, row height, box (x0, y0, x1, y1)): text scaled with the
    image (visualize.text_scale), the trailing lines left out until the box hides at most
    HUD_MAX_SHARE of the image and fits in its width (small frames keep the label and FPS)."""
    import cv2

    height, width = shape[:2]
    scale = visualize.text_scale(height)
    font, thick, row = 0.5 * scale, max(1, int(round(scale))), int(round(20 * scale))
    margin, pad = int(round(6 * scale)), int(round(8 * scale))
    lines = list(lines)
    while lines:
        text_w = max(cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)[0][0] for text in lines)
        box = (margin, margin, margin + text_w + 2 * pad, margin + row * len(lines) + pad)
        area = (box[2] - box[0]) * (box[3] - box[1])
        if box[2] + margin <= width and box[3] + margin <= height and area <= HUD_MAX_SHARE * width * height:
            return lines, font, thick, row, box
        lines.pop()
    return [], font, thick, row, (0, 0, 0, 0)


def draw_hud(image, lines):
    """Text lines on a black box in the top-left corner, scaled with the image (hud_box); -> the box
    (x0, y0, x1, y1), (0, 0, 0, 0) when not even one line fits."""
    import cv2

    lines, font, thick, row, box = hud_box(image.shape, lines)
    if not lines:
        return box
    cv2.rectangle(image, box[:2], (box[2] - 1, box[3] - 1), (0, 0, 0), -1)
    scale = font / 0.5
    pad = int(round(8 * scale))
    for i, text in enumerate(lines):
        cv2.putText(image, text, (box[0] + pad, box[1] + int(round(18 * scale)) + i * row),
                    cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thick, cv2.LINE_AA)
    return box


class DemoResult(object):
    def __init__(self):
        self.frames = 0
        self.rows = []
        self.reason = "end of input"
        self.lost = False
        self.saved = None
        self.saved_frames = 0
        self.stats_path = None
        self.elapsed = 0.0
        self.started = None  # time.time() when the loop started
        self.first_shown = self.last_shown = None  # time.time() of the first and last frame shown
        self.dropped = 0
        self.outputs = []  # what each --output wrote or served
        self.graph = None  # what ran the frames (apps.frame_graph_choice), one entry per frame size
        self.timing = None  # "live", "paced" (--realtime) or "unpaced" (a file read ahead)
        self.images = None  # an image folder: how many images it holds
        self.unreadable = []  # [(path, UserError)]: images of the folder that did not decode (skipped)

    @property
    def mean_fps(self):
        """Frames per second once running: frames after the first over the time from the first frame
        shown to the last (the time before the first frame, ``startup_s``, is warm-up and pipeline fill)."""
        if self.frames >= 2 and self.last_shown > self.first_shown:
            return (self.frames - 1) / (self.last_shown - self.first_shown)
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    def _mean(self, key):
        values = [r[key] for r in self.rows if r.get(key) is not None]
        return sum(values) / len(values) if values else 0.0

    @property
    def mean_latency_ms(self):
        return self._mean("latency_ms")

    @property
    def mean_glass_to_glass_ms(self):
        return self._mean("glass_to_glass_ms")

    def summary(self):
        records = [dict((k[:-3], v) for k, v in r.items() if k.endswith("_ms")) for r in self.rows]
        return {"frames": self.frames, "mean_fps": round(self.mean_fps, 3),
                "mean_latency_ms": round(self.mean_latency_ms, 3),
                "mean_glass_to_glass_ms": round(self.mean_glass_to_glass_ms, 3),
                "glass_to_glass": GLASS_NOTES.get(self.timing),
                "host_ms_per_frame": round(self._mean("host_ms"), 3),
                "host_cpu_ms_per_frame": round(self._mean("host_cpu_ms"), 3),
                "stages_ms": stage_stats(records), "elapsed_s": round(self.elapsed, 3),
                "startup_s": round(self.first_shown - self.started, 3) if self.frames else None,
                "stopped": self.reason, "dropped_frames": self.dropped, "saved": self.saved,
                "saved_frames": self.saved_frames, "outputs": list(self.outputs),
                "graph": list(self.graph) if self.graph else None}

    def line(self):
        text = "demo: {} frames, mean {:.1f} FPS, mean latency {:.1f} ms, {} {:.1f} ms; " \
               "stopped: {}".format(self.frames, self.mean_fps, self.mean_latency_ms,
                                    "glass-to-glass" if self.timing != "unpaced" else "read-to-shown",
                                    self.mean_glass_to_glass_ms, self.reason)
        if self.dropped:
            text += "; {} older {} frames skipped".format(self.dropped, "camera" if self.timing == "live" else "clip")
        if self.saved:
            text += "; saved {} ({} frames)".format(self.saved, self.saved_frames)
        for output in self.outputs:
            text += "; {}".format(output)
        if self.stats_path:
            text += "; stats {}".format(self.stats_path)
        return text


GLASS_NOTES = {
    "live": "from the moment the source handed the frame over to the moment it was shown, encoded and served",
    "paced": "--realtime: the file handed over at its own frame rate like a camera, frames the pipeline could "
             "not keep up with skipped; from hand-over to shown, encoded and served",
    "unpaced": "an unpaced file is read ahead of the pipeline, so this includes time waiting in its queue; "
               "pass --realtime for the latency a camera would show",
}


def pace_for(source, realtime):
    """--realtime: the frame rate a recording is handed over at (None when not asked or live already)."""
    if not realtime or source.live:
        return None
    if not source.fps:
        raise UserError("--realtime plays a video at its own frame rate, but {} has none (an image or a folder "
                        "of images); give a video file, or leave --realtime out".format(source.name))
    return source.fps


def _row(result, index, timings, fps, glass_ms, captured_at, grabber):
    row = {"frame": result.frames, "source_frame": index, "latency_ms": round(latency_of(timings), 3),
           "fps": round(fps, 3), "glass_to_glass_ms": round(glass_ms, 3)}
    for stage in ("decode", "preprocess", "h2d", "compute", "d2h", "postprocess", "render"):
        value = timings.get(stage)
        row[stage + "_ms"] = None if value is None else round(value, 3)
    row["host_ms"] = round(sum(timings.get(k) or 0.0 for k in ("preprocess", "postprocess", "render")), 3)
    row["host_cpu_ms"] = round(timings.get("host_cpu") or 0.0, 3)
    if grabber.pace_fps:  # when the clip says the frame happened, and when it was handed over
        row["source_time_ms"] = round(index * 1000.0 / grabber.pace_fps, 3)
        row["captured_ms"] = round((captured_at - grabber.t0) * 1000.0, 3)
    return row


def latency_of(timings):
    """Preprocess + runner + postprocess (ms)."""
    return sum(timings.get(k) or 0.0 for k in ("preprocess", "h2d", "compute", "d2h", "postprocess"))


def _open_outputs(save, outputs, source, label):
    saver = files.open_saver(save, source.fps) if save else None
    try:
        show, sinks = open_sinks(outputs, source.fps, title=label or "espnet-edge demo")
    except BaseException:
        if saver is not None:
            saver.close()
        raise
    return saver, show, sinks


def run_demo(segmenter, source, save=None, display=True, alpha=defaults.OVERLAY_ALPHA, max_frames=None, record_stats=None,
             label=None, gpu_freq=None, on_frame=None, outputs=None, realtime=False):
    """Run until end of input, ``max_frames``, `q`, Ctrl-C/SIGTERM or a lost camera -> DemoResult.

    Pipelined: capture (frame_queues.FrameGrabber), inference (apps.pipeline.InferenceThread) and this
    thread (render, window, --save, --output sinks) overlap, joined by bounded buffers that keep only
    the newest frame for live sources (and --realtime recordings, handed over at their own frame rate)
    and lose nothing for files and folders. ``source`` is an opened source (sources.open_source); it
    is closed at the end. ``segmenter``: a Segmenter or an apps.frame_graph_choice.FrameGraphRouter.
    ``outputs``: --output values (apps.streams). ``on_frame(index, frame, mask, image)`` is called for
    each processed frame (tests, tools).
    """
    if not 0.0 <= alpha <= 1.0:
        raise UserError("--alpha must be between 0 and 1, got {}".format(alpha))
    if record_stats:
        files.check_stats_path(record_stats)
    pace = pace_for(source, realtime)
    saver, show, sinks = _open_outputs(save, outputs, source, label)
    result = DemoResult()
    result.graph = getattr(segmenter, "choices", None)  # the router's own list: later frame sizes join it
    result.timing = "live" if source.live else "paced" if pace else "unpaced"
    grabber = FrameGrabber(source, timestamps=True, pace_fps=pace).start()
    results = LatestFrameSlot() if grabber.newest_only else OrderedFrameQueue(2)
    worker = InferenceThread(segmenter, grabber.get, results, alpha).start()
    loop = _Loop(segmenter, result, display or show, gpu_freq or gpu_freq_reader(), label, alpha, saver, sinks,
                 on_frame, grabber)
    stop = StopFlag()
    restore = stop.install()
    result.started = time.time()
    try:
        loop.run(results, worker, stop, max_frames, source)
    except KeyboardInterrupt:
        result.reason = "interrupted"
    finally:
        result.elapsed = (result.last_shown - result.started) if result.frames else 0.0
        restore()
        restore = ignore_interrupts()  # a second Ctrl-C must not cut the video short while it is finalised
        try:
            worker.stop()
            grabber.stop()
            result.dropped = grabber.dropped + getattr(results, "dropped", 0)
            loop.close(display or show, record_stats)
        finally:
            restore()
    return result


class _Loop(object):
    """The render loop of run_demo: take each result, draw it, show/save/stream it, record its row."""

    def __init__(self, segmenter, result, display, gpu_freq, label, alpha, saver, sinks, on_frame, grabber):
        self.segmenter, self.result, self.display, self.gpu_freq = segmenter, result, display, gpu_freq
        self.label, self.alpha, self.saver, self.sinks = label, alpha, saver, sinks
        self.on_frame, self.grabber = on_frame, grabber
        self.smoothed_fps = self.last_glass = self.last_stages = None

    def run(self, results, worker, stop, max_frames, source):
        result = self.result
        while max_frames is None or result.frames < max_frames:
            if stop.signal is not None:
                result.reason = "interrupted"
                return
            item = results.get(timeout=0.1)
            if item is None:
                continue
            if item is END:
                if worker.error is not None:
                    raise worker.error
                if self.grabber.end_reason == "lost":
                    result.lost = True
                    if result.frames == 0:
                        raise UserError("could not read any frame from {} (camera busy, wrong format "
                                        "or stream down)".format(source.name))
                    result.reason = "{} stopped delivering frames (unplugged?)".format(source.name)
                return
            if self.show_one(item):
                result.reason = "q pressed"
                return
        result.reason = "--max-frames {} reached".format(max_frames)

    def show_one(self, item):
        """Draw, show, save and stream one result; -> True when the user asked to quit."""
        result = self.result
        index, frame, captured_at, mask, overlay, timings = item
        now = time.time()
        fps = 1.0 / max(now - (result.last_shown or result.started), 1e-9)
        self.smoothed_fps = fps if self.smoothed_fps is None else 0.9 * self.smoothed_fps + 0.1 * fps
        tick, cpu = time.perf_counter(), thread_cpu_s()
        lines = hud_lines(self.smoothed_fps, latency_of(timings), self.gpu_freq(), self.label, self.last_glass,
                          self.last_stages, glass_label="read-to-shown" if result.timing == "unpaced" else None)
        image = render_frame(self.segmenter, frame, mask, overlay, self.alpha, lines)
        timings["render"] = (time.perf_counter() - tick) * 1000.0
        timings["host_cpu"] = timings.get("host_cpu", 0.0) + (thread_cpu_s() - cpu) * 1000.0
        if self.saver is not None:
            self.saver.write(image)
        for sink in self.sinks:
            sink.write(image)
        quit_asked = self.display and _show(image)
        self.last_glass = (time.perf_counter() - captured_at) * 1000.0
        self.last_stages = timings
        result.rows.append(_row(result, index, timings, fps, self.last_glass, captured_at, self.grabber))
        result.frames += 1
        result.first_shown = result.first_shown or now
        result.last_shown = now
        if self.on_frame is not None:
            self.on_frame(index, frame, mask, image)
        return quit_asked

    def close(self, display, record_stats):
        result = self.result
        if self.saver is not None:
            result.saved = self.saver.close()
            result.saved_frames = self.saver.frames
        for sink in self.sinks:
            what = sink.close()
            result.outputs.append("{} ({} frames)".format(what, getattr(sink, "frames", 0)))
        if display:
            _close_window()
        if record_stats and result.rows:
            result.stats_path = files.write_stats(record_stats, result.rows, result.summary())


def _show(image):
    """Show a frame; -> True when the user asked to quit (q, Esc, window closed)."""
    import cv2

    cv2.imshow(WINDOW, image)
    key = cv2.waitKey(1) & 0xFF
    if key in (ord("q"), 27):
        return True
    try:
        return cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:
        return False


def _close_window():
    try:
        import cv2

        cv2.destroyWindow(WINDOW)
    except Exception:
        pass


