"""Where frames come from: parse a --source string, build capture pipelines, read on a thread.

Live sources (cameras, streams) hand over only the newest frame (a 1-slot buffer that overwrites,
so latency never grows); files and image folders are processed frame by frame, in order
(a bounded queue whose producer blocks).
"""

import os
import queue
import re
import sys
import threading
import time

from espnet_edge.apps.frame_size import CSI_DEFAULT_SIZE, FirstFrame
from espnet_edge.errors import UserError
from espnet_edge.images import is_image_file, list_images, read_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".h264")
NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")

CSI, V4L2, RTSP, VIDEO, FOLDER, IMAGE = "csi", "v4l2", "rtsp", "video", "folder", "image"
LIVE_KINDS = (CSI, V4L2, RTSP)


class SourceSpec(object):
    """A parsed --source: ``kind`` plus the one value that kind needs (sensor id, device, URL, path)."""

    def __init__(self, kind, text, sensor_id=None, device=None, index=None, url=None, path=None):
        self.kind = kind
        self.text = text
        self.sensor_id = sensor_id
        self.device = device
        self.index = index
        self.url = url
        self.path = path

    @property
    def live(self):
        return self.kind in LIVE_KINDS

    def __repr__(self):
        return "SourceSpec({}, {!r})".format(self.kind, self.text)


def parse_source(text):
    """--source string -> SourceSpec (no I/O beyond telling a folder from a file)."""
    text = str(text).strip()
    if not text:
        raise UserError("--source is empty; give csi://N, /dev/videoN, a camera index, rtsp://URL, "
                        "a video file, an image folder or an image")
    lower = text.lower()
    if lower.startswith("csi://"):
        rest = text[len("csi://"):]
        if not rest.isdigit():
            raise UserError("bad CSI source {!r}: write csi://N with N the sensor id, e.g. csi://0".format(text))
        return SourceSpec(CSI, text, sensor_id=int(rest))
    if lower.startswith(NETWORK_SCHEMES):
        return SourceSpec(RTSP, text, url=text)
    if re.match(r"^\d+$", text):
        index = int(text)
        return SourceSpec(V4L2, text, device="/dev/video{}".format(index), index=index)
    match = re.match(r"^/dev/video(\d+)$", text)
    if match:
        return SourceSpec(V4L2, text, device=text, index=int(match.group(1)))
    if re.match(r"^[a-z][a-z0-9+.-]*://", lower):
        raise UserError("unknown source scheme in {!r}; use csi://N, rtsp://..., http(s)://..., "
                        "/dev/videoN, a camera index, a video file, an image folder or an image".format(text))
    if os.path.isdir(text):
        return SourceSpec(FOLDER, text, path=text)
    if is_image_file(text):
        return SourceSpec(IMAGE, text, path=text)
    return SourceSpec(VIDEO, text, path=text)


# ---- GStreamer pipelines (pure functions: strings in, string out) ----

def _caps_size(width, height, framerate):
    parts = []
    if width and height:
        parts.append("width={}, height={}".format(int(width), int(height)))
    if framerate:
        parts.append("framerate={}/1".format(int(framerate)))
    return ", ".join(parts)


_TO_BGR_APPSINK = ("nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
                   "appsink drop=1 max-buffers=1 sync=false")


def csi_pipeline(sensor_id=0, width=1280, height=720, framerate=30, flip_method=0, sensor_mode=None,
                 out_width=None, out_height=None):
    """Jetson CSI camera (libargus) -> BGR frames for cv2.VideoCapture(..., cv2.CAP_GSTREAMER).
    ``width``/``height``: what nvarguscamerasrc delivers (a sensor mode's size); ``out_width``/
    ``out_height``: what nvvidconv scales it to on the VIC (None: no scaling). ``sensor_mode``:
    nvarguscamerasrc's sensor-mode (the sensor's own readout size and rate, listed when the camera
    starts); None lets Argus choose it from the requested caps."""
    caps = "video/x-raw(memory:NVMM), {}, format=NV12".format(_caps_size(width, height, framerate))
    mode = " sensor-mode={}".format(int(sensor_mode)) if sensor_mode is not None else ""
    scaled = "width={}, height={}, ".format(int(out_width), int(out_height)) if out_width and out_height else ""
    return "nvarguscamerasrc sensor-id={}{} ! {} ! nvvidconv flip-method={} ! video/x-raw, {}format=BGRx ! " \
           "videoconvert ! video/x-raw, format=BGR ! appsink drop=1 max-buffers=1 sync=false".format(
               int(sensor_id), mode, caps, int(flip_method), scaled)


def v4l2_jetson_pipeline(device, width=None, height=None, framerate=None):
    """USB/V4L2 camera on a Jetson: colour conversion and scaling on the VIC (nvvidconv)."""
    caps = _caps_size(width, height, framerate)
    head = "v4l2src device={} ! video/x-raw{}".format(device, ", " + caps if caps else "")
    return "{} ! {}".format(head, _TO_BGR_APPSINK)


def rtsp_jetson_pipeline(url, latency_ms=200, codec="h264", drop_on_latency=False):
    """RTSP stream decoded by the Jetson hardware decoder (nvv4l2decoder). ``latency_ms`` is rtspsrc's
    jitter buffer; ``drop_on_latency`` drops packets that arrive later than that instead of letting
    the delay grow (rtspsrc's drop-on-latency property)."""
    if codec not in ("h264", "h265"):
        raise UserError("unknown RTSP codec {!r}; use h264 or h265".format(codec))
    return "rtspsrc location={} latency={}{} ! rtp{}depay ! {}parse ! nvv4l2decoder ! {}".format(
        url, int(latency_ms), " drop-on-latency=true" if drop_on_latency else "", codec, codec, _TO_BGR_APPSINK)


# ---- what this machine offers ----

def opencv_build_flags():
    """-> {"gstreamer": bool, "ffmpeg": bool, "v4l2": bool, "gui": bool} from cv2.getBuildInformation()."""
    import cv2

    info = cv2.getBuildInformation()

    def flag(name):
        match = re.search(r"^\s*{}:\s*(\S+)".format(re.escape(name)), info, re.MULTILINE)
        return bool(match) and match.group(1).upper() not in ("NO", "NONE")

    return {"gstreamer": flag("GStreamer"), "ffmpeg": flag("FFMPEG"),
            "v4l2": flag("v4l/v4l2") or flag("V4L/V4L2") or flag("V4L2"), "gui": flag("GUI")}


def on_jetson():
    """True on an NVIDIA Jetson (honours ESPNET_EDGE_SYSFS_ROOT for simulated boards)."""
    try:
        from espnet_edge.jetson import detect

        if detect.find_gpu_devfreq():
            return True
    except Exception:  # the board facts are a bonus here; fall back to the release file
        pass
    from espnet_edge.jetson import sysfs

    if os.path.exists(sysfs.path("/etc/nv_tegra_release")):
        return True
    return "jetson" in (sysfs.read_board("/proc/device-tree/model") or "").lower()


# ---- opening ----

class CaptureOptions(object):
    def __init__(self, width=None, height=None, framerate=None, flip_method=0, rtsp_latency_ms=200,
                 rtsp_codec="h264", jetson=None, rtsp_drop_on_latency=False, sensor_mode=None, out_width=None,
                 out_height=None):
        self.width = width
        self.height = height
        self.framerate = framerate
        self.flip_method = flip_method
        self.rtsp_latency_ms = rtsp_latency_ms
        self.rtsp_codec = rtsp_codec
        self.jetson = jetson  # None: detect
        self.rtsp_drop_on_latency = rtsp_drop_on_latency
        self.sensor_mode = sensor_mode
        self.out_width = out_width  # CSI: what the VIC scales the capture to (csi_plan)
        self.out_height = out_height


def capture_plan(spec, options, jetson, flags):
    """-> (what to pass to cv2.VideoCapture, API name) for a live/video source; pure, testable."""
    if spec.kind == CSI:
        if not jetson:
            raise UserError("{}: CSI cameras need a Jetson (nvarguscamerasrc); on this machine use "
                            "/dev/videoN or a video file".format(spec.text))
        if not flags["gstreamer"]:
            raise UserError(_no_gstreamer(spec.text))
        return csi_pipeline(spec.sensor_id, options.width or CSI_DEFAULT_SIZE[0], options.height or CSI_DEFAULT_SIZE[1],
                            options.framerate or 30, options.flip_method, options.sensor_mode, options.out_width,
                            options.out_height), "CAP_GSTREAMER"
    if spec.kind == V4L2:
        if jetson and flags["gstreamer"]:
            return v4l2_jetson_pipeline(spec.device, options.width, options.height,
                                        options.framerate), "CAP_GSTREAMER"
        if sys.platform.startswith("linux"):
            return spec.device, "CAP_V4L2"
        return spec.index, "CAP_ANY"
    if spec.kind == RTSP:
        if jetson and flags["gstreamer"] and spec.url.lower().startswith(("rtsp://", "rtsps://")):
            return rtsp_jetson_pipeline(spec.url, options.rtsp_latency_ms, options.rtsp_codec,
                                        options.rtsp_drop_on_latency), "CAP_GSTREAMER"
        if not flags["ffmpeg"]:
            raise UserError("{}: this OpenCV build has neither GStreamer nor FFmpeg to read network "
                            "streams (see cv2.getBuildInformation())".format(spec.text))
        return spec.url, "CAP_FFMPEG"
    if spec.kind == VIDEO:
        return spec.path, "CAP_FFMPEG" if flags["ffmpeg"] else "CAP_ANY"
    raise ValueError(spec.kind)


def _no_gstreamer(text):
    return ("{}: this OpenCV build has no GStreamer support (cv2.getBuildInformation() says "
            "GStreamer: NO); use the JetPack OpenCV (apt python3-opencv) or build OpenCV with "
            "-DWITH_GSTREAMER=ON".format(text))


class VideoSource(FirstFrame):
    """A cv2.VideoCapture; ``live`` decides whether a failed read means end of input or a lost camera.
    ``caps_size``: the (width, height) the capture negotiated, where it says (cameras)."""

    def __init__(self, capture, name, live, fps=None, frame_count=None, caps_size=None):
        self.capture = capture
        self.name = name
        self.live = live
        self.fps = fps
        self.frame_count = frame_count
        self.caps_size = caps_size

    def _read(self):
        ok, frame = self.capture.read()
        return frame if ok and frame is not None else None

    def first_frame(self):
        """A live source's first frame is not kept: by the time it would be processed the camera has
        newer ones."""
        if not self.live:
            return FirstFrame.first_frame(self)
        return self._read()

    def frame_size(self):
        if self.live and self.caps_size:
            return tuple(self.caps_size)
        return FirstFrame.frame_size(self)

    def close(self):
        self.capture.release()


class ImageSource(FirstFrame):
    """Images read in order, one per frame (they may differ in size)."""

    live = False
    fps = None

    def __init__(self, paths, name):
        self.paths = list(paths)
        self.name = name
        self.frame_count = len(self.paths)
        self._next = 0

    def _read(self):
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        return read_image(path)

    def close(self):
        pass


def open_source(text, options=None, live=None):
    """--source -> an opened source (VideoSource/ImageSource); UserError saying why it cannot open.

    ``live`` overrides the kind's default (used to treat a recording as a camera).
    """
    spec = parse_source(text) if not isinstance(text, SourceSpec) else text
    options = options or CaptureOptions()
    if spec.kind == FOLDER:
        return ImageSource(list_images(spec.path), spec.text)
    if spec.kind == IMAGE:
        if not os.path.isfile(spec.path):
            from espnet_edge.utils.pathchecks import file_problem

            raise UserError("image {} {}".format(spec.path, file_problem(spec.path, "image")))
        return ImageSource([spec.path], spec.text)
    if spec.kind == VIDEO and not os.path.isfile(spec.path):
        from espnet_edge.utils.pathchecks import file_problem

        raise UserError("source {} {} (expected csi://N, /dev/videoN, a camera index, rtsp://URL, a video "
                        "file, an image folder or an image)".format(spec.path, file_problem(spec.path, "video")))
    if spec.kind == V4L2 and sys.platform.startswith("linux") and not os.path.exists(spec.device):
        raise UserError("no camera at {} (device node missing); plug one in or list them with "
                        "`v4l2-ctl --list-devices`".format(spec.device))
    try:
        import cv2
    except ImportError:
        raise UserError("OpenCV is needed to read {}; pip install opencv-python".format(spec.text))
    jetson = on_jetson() if options.jetson is None else options.jetson
    flags = opencv_build_flags()
    target, api = capture_plan(spec, options, jetson, flags)
    from espnet_edge.utils.quiet import native_output_quiet

    with native_output_quiet("opening " + spec.text):   # FFmpeg/OpenCV lines before our own one-line error
        capture = _capture(cv2, target, api, spec)
        if not capture.isOpened() and spec.kind == V4L2 and api == "CAP_GSTREAMER":
            capture.release()  # e.g. an MJPEG-only webcam the raw-caps pipeline cannot negotiate
            target, api = spec.device, "CAP_V4L2"
            capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
        opened = capture.isOpened()
    if not opened:
        capture.release()
        raise UserError(_open_failure(spec, target, api))
    if spec.kind == V4L2 and api == "CAP_V4L2":
        if options.width and options.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
        if options.framerate:
            capture.set(cv2.CAP_PROP_FPS, options.framerate)
    fps = capture.get(cv2.CAP_PROP_FPS) or None
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not spec.live else 0
    is_live = spec.live if live is None else live
    caps = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0))
    return VideoSource(capture, spec.text, is_live, fps=fps if fps and fps < 1000 else None,
                       frame_count=count or None, caps_size=caps if spec.live and min(caps) > 0 else None)


STREAM_TIMEOUT_S = 10   # an unreachable or silent network stream fails after this, not FFmpeg's 30 s


def _capture(cv2, target, api, spec):
    """cv2.VideoCapture; network streams through FFmpeg get open and read deadlines where OpenCV has them."""
    if spec.kind == RTSP and api == "CAP_FFMPEG" and hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):
        deadline_ms = STREAM_TIMEOUT_S * 1000
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, deadline_ms,
                                                          cv2.CAP_PROP_READ_TIMEOUT_MSEC, deadline_ms])
    return cv2.VideoCapture(target, getattr(cv2, api))


def _open_failure(spec, target, api):
    if spec.kind == V4L2:
        return ("cannot open camera {} ({}): it may be busy in another program, or not a capture "
                "device; check `v4l2-ctl --list-devices`".format(spec.device, api))
    if spec.kind == CSI:
        return ("cannot open CSI camera {} with nvarguscamerasrc: is the sensor connected and "
                "nvargus-daemon running? (`sudo systemctl restart nvargus-daemon`)".format(spec.sensor_id))
    if spec.kind == RTSP:
        return "cannot open stream {} ({}; gave up after at most {} s): check the URL and that the server is " \
               "reachable (-v shows what FFmpeg said)".format(spec.url, api, STREAM_TIMEOUT_S)
    return ("cannot open video {} with OpenCV ({}): not a video, or a codec this OpenCV build "
            "cannot decode".format(spec.path, api))


# ---- reading on a thread ----

END = object()


class LatestFrameSlot(object):
    """One slot; put() overwrites an unread item (counted in ``dropped``): the newest frame wins."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._full = False
        self._closed = False
        self.dropped = 0

    def put(self, item):
        with self._cond:
            if self._full:
                self.dropped += 1
            self._item = item
            self._full = True
            self._cond.notify_all()

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout=None):
        """-> the item, END once closed and drained, or None on timeout."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if self._full:
                item, self._item, self._full = self._item, None, False
                return item
            return END if self._closed else None


class OrderedFrameQueue(object):
    """Bounded FIFO: the producer blocks when it is full, so every frame is processed in order."""

    dropped = 0

    def __init__(self, size=4):
        self._queue = queue.Queue(maxsize=size)

    def put(self, item, stop_event=None):
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if stop_event is not None and stop_event.is_set():
                    return False

    def close(self, stop_event=None):
        self.put(END, stop_event)

    def get(self, timeout=None):
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


class FrameGrabber(object):
    """Reads ``source`` on a daemon thread. get() -> (index, frame), END, or None (timeout).

    After END, ``end_reason`` is "end" (input finished), "lost" (a live source stopped delivering)
    or "error" (``error`` holds the UserError, re-raised by get()).

    ``pace_fps`` (--realtime): a recording is handed over at its own frame rate, frame i not before
    ``t0 + i / pace_fps`` (``t0``: when its first frame was read), into the newest-frame-only buffer a
    camera uses: what the pipeline cannot keep up with is skipped, as a camera's frames would be.
    ``clock``/``sleep`` default to time.perf_counter/time.sleep (tests pass their own).
    """

    def __init__(self, source, queue_size=4, timestamps=False, pace_fps=None, clock=None, sleep=None):
        self.source = source
        # items (index, frame, captured_at perf_counter, decode ms) instead of (index, frame)
        self.timestamps = timestamps
        self.pace_fps = float(pace_fps) if pace_fps else None
        self._clock = clock or time.perf_counter
        self._sleep = sleep or time.sleep
        self.t0 = None
        self.newest_only = bool(source.live or self.pace_fps)
        self.buffer = LatestFrameSlot() if self.newest_only else OrderedFrameQueue(queue_size)
        self.frames_read = 0
        self.end_reason = None
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-grabber")
        self._thread.daemon = True

    @property
    def dropped(self):
        return self.buffer.dropped

    def start(self):
        self._thread.start()
        return self

    def due(self, index):
        """When frame ``index`` of a paced recording is handed over at the earliest (clock units)."""
        return self.t0 + index / self.pace_fps

    def _handover(self, read_at):
        """The time a frame read at ``read_at`` is handed over: then, or (paced) at its due time."""
        if not self.pace_fps:
            return read_at
        if self.t0 is None:
            self.t0 = read_at
        due, now = self.due(self.frames_read), self._clock()
        while now < due:
            self._sleep(due - now)
            now = self._clock()
        return now

    def _run(self):
        reason = "end"
        try:
            while not self._stop.is_set():
                start = self._clock()
                frame = self.source.read()
                if frame is None:
                    reason = "lost" if self.source.live else "end"
                    break
                read_at = self._clock()
                captured = self._handover(read_at)
                item = (self.frames_read, frame, captured, (read_at - start) * 1000.0) if self.timestamps \
                    else (self.frames_read, frame)
                self.frames_read += 1
                if self.newest_only:
                    self.buffer.put(item)
                elif not self.buffer.put(item, self._stop):
                    break
        except UserError as exc:
            self.error = exc
            reason = "error"
        except Exception as exc:  # a decoder/driver failure ends the input; report it, no traceback
            self.error = UserError("reading {} failed: {}".format(self.source.name, exc))
            reason = "error"
        self.end_reason = "stopped" if self._stop.is_set() and reason == "end" else reason
        if self.newest_only:
            self.buffer.close()
        else:
            self.buffer.close(self._stop)

    def get(self, timeout=None):
        item = self.buffer.get(timeout)
        if item is END and self.error is not None:
            raise self.error
        return item

    def stop(self):
        self._stop.set()
        if isinstance(self.buffer, OrderedFrameQueue):
            while self.buffer.get(timeout=0) not in (None, END):
                pass
        self._thread.join(timeout=5)
        self.source.close()
