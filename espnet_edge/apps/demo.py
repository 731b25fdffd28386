"""The live demo: frames from a source, segmented by any runner, drawn with legend and HUD.

Three threads overlap: capture (sources.FrameGrabber), inference (apps.pipeline.InferenceThread) and
this one, which draws, shows, saves and streams (--output, apps.streams).
"""

import os
import sys
import time

from espnet_edge import defaults, visualize
from espnet_edge.errors import UserError
from espnet_edge.utils.signals import StopFlag, ignore_interrupts

WINDOW = "espnet-edge demo"


def display_problem(environ=None, platform=None, gui=None):
    """-> None if a window can be shown here, else the reason (for the --no-display hint)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if gui is None:
        from espnet_edge.apps.sources import opencv_build_flags

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
        from espnet_edge.jetson import detect, sysfs

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


def hud_lines(fps, latency_ms, gpu_mhz=None, label=None, glass_ms=None, stages=None):
    """HUD text: label, FPS, latency (preprocess + runner + postprocess), glass-to-glass (capture to
    shown/encoded/served, of the previous frame), GPU clock, and a stage line when given."""
    lines = []
    if label:
        lines.append(label)
    lines.append("FPS {:.1f}".format(fps) if fps else "FPS -")
    lines.append("latency {:.1f} ms".format(latency_ms) if latency_ms is not None else "latency -")
    if glass_ms is not None:
        lines.append("glass-to-glass {:.0f} ms".format(glass_ms))
    if stages:
        lines.append("pre {:.1f} | run {:.1f} | post {:.1f} | draw {:.1f} ms".format(
            stages.get("preprocess") or 0.0, stages.get("compute") or 0.0, stages.get("postprocess") or 0.0,
            stages.get("render") or 0.0))
    if gpu_mhz:
        lines.append("GPU {:.0f} MHz".format(gpu_mhz))
    return lines


def draw_hud(image, lines):
    """Text lines on a black box in the top-left corner; -> the box (x0, y0, x1, y1)."""
    import cv2

    font, scale, thick, row = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 20
    width = max(cv2.getTextSize(text, font, scale, thick)[0][0] for text in lines) + 16
    box = (6, 6, 6 + width, 6 + row * len(lines) + 8)
    cv2.rectangle(image, box[:2], box[2:], (0, 0, 0), -1)
    for i, text in enumerate(lines):
        cv2.putText(image, text, (box[0] + 8, box[1] + 18 + i * row), font, scale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    return box


def decorate(image, mask, info, lines):
    """Legend of the classes in ``mask`` (top right) and HUD (top left), drawn in place."""
    visualize.draw_legend(image, mask, info.classes, info.palette)
    draw_hud(image, lines)
    return image


def render(segmenter, frame, mask, lines, alpha=defaults.OVERLAY_ALPHA):
    """Frame + class map (frame size) -> overlay with legend and HUD."""
    image = visualize.overlay(frame, mask, segmenter.info.palette, alpha)
    return decorate(image, mask, segmenter.info, lines)


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
        self.dropped = 0
        self.outputs = []  # what each --output wrote or served

    @property
    def mean_fps(self):
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
        from espnet_edge.apps.pipeline import stage_stats

        records = [dict((k[:-3], v) for k, v in r.items() if k.endswith("_ms")) for r in self.rows]
        return {"frames": self.frames, "mean_fps": round(self.mean_fps, 3),
                "mean_latency_ms": round(self.mean_latency_ms, 3),
                "mean_glass_to_glass_ms": round(self.mean_glass_to_glass_ms, 3),
                "stages_ms": stage_stats(records), "elapsed_s": round(self.elapsed, 3),
                "stopped": self.reason, "dropped_frames": self.dropped, "saved": self.saved,
                "saved_frames": self.saved_frames, "outputs": list(self.outputs)}

    def line(self):
        text = "demo: {} frames, mean {:.1f} FPS, mean latency {:.1f} ms, glass-to-glass {:.1f} ms; " \
               "stopped: {}".format(self.frames, self.mean_fps, self.mean_latency_ms,
                                    self.mean_glass_to_glass_ms, self.reason)
        if self.dropped:
            text += "; {} older camera frames skipped".format(self.dropped)
        if self.saved:
            text += "; saved {} ({} frames)".format(self.saved, self.saved_frames)
        for output in self.outputs:
            text += "; {}".format(output)
        if self.stats_path:
            text += "; stats {}".format(self.stats_path)
        return text


def run_demo(segmenter, source, save=None, display=True, alpha=defaults.OVERLAY_ALPHA, max_frames=None, record_stats=None,
             label=None, gpu_freq=None, on_frame=None, outputs=None):
    """Run until end of input, ``max_frames``, `q`, Ctrl-C/SIGTERM or a lost camera -> DemoResult.

    Pipelined: capture (sources.FrameGrabber), inference (apps.pipeline.InferenceThread) and this
    thread (render, window, --save, --output sinks) overlap, joined by bounded buffers that keep only
    the newest frame for live sources and lose nothing for files and folders.
    ``source`` is an opened source (sources.open_source); it is closed at the end. ``outputs``:
    --output values (apps.streams). ``on_frame(index, frame, mask, image)`` is called for each
    processed frame (tests, tools).
    """
    from espnet_edge.apps import outputs as files
    from espnet_edge.apps.pipeline import InferenceThread, render_frame
    from espnet_edge.apps.sources import END, FrameGrabber, LatestFrameSlot, OrderedFrameQueue
    from espnet_edge.apps.streams import open_sinks

    if not 0.0 <= alpha <= 1.0:
        raise UserError("--alpha must be between 0 and 1, got {}".format(alpha))
    if record_stats:
        files.check_stats_path(record_stats)
    saver = files.open_saver(save, source.fps) if save else None
    try:
        show, sinks = open_sinks(outputs, source.fps, title=label or "espnet-edge demo")
    except BaseException:
        if saver is not None:
            saver.close()
        raise
    display = display or show
    gpu_freq = gpu_freq or gpu_freq_reader()
    result = DemoResult()
    grabber = FrameGrabber(source, timestamps=True).start()
    results = LatestFrameSlot() if source.live else OrderedFrameQueue(2)
    worker = InferenceThread(segmenter, grabber.get, results, alpha).start()
    stop = StopFlag()
    restore = stop.install()
    started = time.time()
    previous = started
    smoothed_fps = None
    last_glass = None
    last_stages = None
    try:
        while max_frames is None or result.frames < max_frames:
            if stop.signal is not None:
                result.reason = "interrupted"
                break
            item = results.get(timeout=0.1)
            if item is None:
                continue
            if item is END:
                if worker.error is not None:
                    raise worker.error
                if grabber.end_reason == "lost":
                    result.lost = True
                    if result.frames == 0:
                        raise UserError("could not read any frame from {} (camera busy, wrong format "
                                        "or stream down)".format(source.name))
                    result.reason = "{} stopped delivering frames (unplugged?)".format(source.name)
                break
            index, frame, captured_at, mask, overlay, timings = item
            latency_ms = sum(timings.get(k) or 0.0 for k in ("preprocess", "h2d", "compute", "d2h", "postprocess"))
            now = time.time()
            fps = 1.0 / max(now - previous, 1e-9)
            previous = now
            smoothed_fps = fps if smoothed_fps is None else 0.9 * smoothed_fps + 0.1 * fps
            tick = time.perf_counter()
            lines = hud_lines(smoothed_fps, latency_ms, gpu_freq(), label, last_glass, last_stages)
            image = render_frame(segmenter, frame, mask, overlay, alpha, lines)
            timings["render"] = (time.perf_counter() - tick) * 1000.0
            if saver is not None:
                saver.write(image)
            for sink in sinks:
                sink.write(image)
            quit_asked = display and _show(image)
            last_glass = (time.perf_counter() - captured_at) * 1000.0
            last_stages = timings
            row = {"frame": result.frames, "source_frame": index, "latency_ms": round(latency_ms, 3),
                   "fps": round(fps, 3), "glass_to_glass_ms": round(last_glass, 3)}
            for stage in ("decode", "preprocess", "h2d", "compute", "d2h", "postprocess", "render"):
                value = timings.get(stage)
                row[stage + "_ms"] = None if value is None else round(value, 3)
            result.rows.append(row)
            result.frames += 1
            if on_frame is not None:
                on_frame(index, frame, mask, image)
            if quit_asked:
                result.reason = "q pressed"
                break
        else:
            result.reason = "--max-frames {} reached".format(max_frames)
    except KeyboardInterrupt:
        result.reason = "interrupted"
    finally:
        result.elapsed = (previous - started) if result.frames else 0.0
        restore()
        restore = ignore_interrupts()  # a second Ctrl-C must not cut the video short while it is finalised
        try:
            worker.stop()
            grabber.stop()
            result.dropped = grabber.dropped + getattr(results, "dropped", 0)
            if saver is not None:
                result.saved = saver.close()
                result.saved_frames = saver.frames
            for sink in sinks:
                what = sink.close()
                result.outputs.append("{} ({} frames)".format(what, getattr(sink, "frames", 0)))
            if display:
                _close_window()
            if record_stats and result.rows:
                result.stats_path = files.write_stats(record_stats, result.rows, result.summary())
        finally:
            restore()
    return result


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


