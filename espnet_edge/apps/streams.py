"""Where the demo's overlay goes besides the window and --save: `--output` (repeatable).

- ``http://HOST:PORT``: MJPEG over HTTP (apps/mjpeg.py), any browser.
- ``rtp://HOST:PORT``: H.264 over RTP/UDP through GStreamer (OpenCV built with GStreamer, as JetPack's is).
- ``rtsp://SERVER:PORT/PATH``: H.264 published to an RTSP server (e.g. mediamtx) with rtspclientsink.
- ``display``: the window; anything else: a file or folder, as --save.

Each sink has write(image) and close() -> what it wrote/served. Pipelines are pure functions.
"""

import logging
import re

from espnet_edge.errors import UserError

log = logging.getLogger(__name__)

_HOST_PORT = re.compile(r"^(?P<scheme>http|rtp|rtsp)://(?P<host>[^:/\s]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)(?P<path>/\S*)?$")


def parse_output(text):
    """-> (kind, details): ("http"|"rtp"|"rtsp", {"host", "port", "path"}), ("display", {}) or ("file", {"path"})."""
    text = str(text).strip()
    lower = text.lower()
    if lower == "display":
        return "display", {}
    if re.match(r"^[a-z][a-z0-9+.-]*://", lower):
        match = _HOST_PORT.match(text)
        if not match or not match.group("scheme") == lower.split(":", 1)[0]:
            raise UserError("--output {}: write http://HOST:PORT (MJPEG for a browser), rtp://HOST:PORT "
                            "or rtsp://SERVER:PORT/PATH (GStreamer), a file/folder, or display".format(text))
        port = int(match.group("port"))
        if not 0 < port < 65536:
            raise UserError("--output {}: port {} is not between 1 and 65535".format(text, port))
        return match.group("scheme"), {"host": match.group("host").strip("[]"), "port": port,
                                       "path": match.group("path") or ""}
    if not text:
        raise UserError("--output is empty; give http://HOST:PORT, rtp://HOST:PORT, rtsp://..., a file or display")
    return "file", {"path": text}


def _encoder(jetson, bitrate_kbps):
    if jetson:
        return ("nvvidconv ! video/x-raw(memory:NVMM), format=NV12 ! nvv4l2h264enc insert-sps-pps=true "
                "maxperf-enable=1 bitrate={} ! h264parse".format(int(bitrate_kbps) * 1000))
    return ("x264enc tune=zerolatency speed-preset=ultrafast bitrate={} key-int-max=30 ! "
            "video/x-h264, profile=baseline ! h264parse".format(int(bitrate_kbps)))


def rtp_pipeline(host, port, jetson=False, bitrate_kbps=4000):
    """BGR frames from cv2.VideoWriter -> H.264 RTP on UDP (payload 96). Receive with e.g.
    `gst-launch-1.0 udpsrc port=PORT caps="application/x-rtp, encoding-name=H264, payload=96" !
    rtph264depay ! avdec_h264 ! autovideosink sync=false`."""
    return ("appsrc is-live=true do-timestamp=true ! videoconvert ! {} ! rtph264pay config-interval=1 pt=96 ! "
            "udpsink host={} port={} sync=false async=false".format(_encoder(jetson, bitrate_kbps), host, int(port)))


def rtsp_pipeline(url, jetson=False, bitrate_kbps=4000, latency_ms=0):
    """BGR frames -> H.264 published to the RTSP server at ``url`` (rtspclientsink, gst-rtsp-server's
    client sink); viewers then open the same URL."""
    return ("appsrc is-live=true do-timestamp=true ! videoconvert ! {} ! rtspclientsink location={} "
            "latency={}".format(_encoder(jetson, bitrate_kbps), url, int(latency_ms)))


def receive_hint(kind, details, url):
    """What a viewer opens for an rtp:// or rtsp:// --output (printed when the demo starts)."""
    if kind == "rtp":
        return ("sending H.264 over RTP/UDP to {host}:{port} (payload 96); receive it there with: gst-launch-1.0 "
                "udpsrc port={port} caps=\"application/x-rtp, media=video, clock-rate=90000, encoding-name=H264, "
                "payload=96\" ! rtph264depay ! avdec_h264 ! autovideosink sync=false".format(**details))
    return ("publishing H.264 to the RTSP server at {0} (one must be listening there, e.g. mediamtx); viewers "
            "open {0} (VLC, or ffplay -rtsp_transport tcp {0})".format(url))


class GStreamerWriter(object):
    """cv2.VideoWriter on a GStreamer pipeline, opened at the first frame (its size); a pipeline that
    does not start is a one-line UserError carrying the pipeline string."""

    def __init__(self, url, pipeline, fps):
        self.url = url
        self.pipeline = pipeline
        self.fps = float(fps or 30.0)
        self.frames = 0
        self._writer = None

    def write(self, image):
        import cv2

        if self._writer is None:
            size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(self.pipeline, cv2.CAP_GSTREAMER, 0, self.fps, size, True)
            if not self._writer.isOpened():
                self._writer = None
                raise UserError("--output {}: the GStreamer pipeline did not start: {}".format(self.url, self.pipeline))
        self._writer.write(image)
        self.frames += 1

    def close(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        return self.url


def open_sinks(outputs, fps, title="espnet-edge demo", jetson=None, flags=None):
    """--output values -> (display wanted, [sink]), every value checked (and servers bound) before
    the demo starts; on an error the sinks opened so far are closed."""
    from espnet_edge.apps import sources

    display, sinks = False, []
    try:
        for text in outputs or ():
            kind, details = parse_output(text)
            if kind == "display":
                display = True
            elif kind == "file":
                from espnet_edge.apps import outputs as files

                sinks.append(files.open_saver(details["path"], fps, flag="--output"))
            elif kind == "http":
                from espnet_edge.apps.mjpeg import MjpegServer

                sinks.append(MjpegServer(details["host"], details["port"], title=title, url=text))
                log.info(sinks[-1].describe())
            else:
                on_jetson = sources.on_jetson() if jetson is None else jetson
                pipeline = rtp_pipeline(details["host"], details["port"], on_jetson) if kind == "rtp" \
                    else rtsp_pipeline(text, on_jetson)
                build = flags if flags is not None else sources.opencv_build_flags()
                if not build["gstreamer"]:
                    raise UserError("--output {}: this OpenCV build has no GStreamer (cv2.getBuildInformation()); "
                                    "the pipeline would be: {}".format(text, pipeline))
                sinks.append(GStreamerWriter(text, pipeline, fps))
                log.info(receive_hint(kind, details, text))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return display, sinks
