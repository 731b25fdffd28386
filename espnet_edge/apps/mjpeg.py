"""The demo's overlay as an MJPEG stream over HTTP, for boards run headless over SSH.

`demo --output http://0.0.0.0:8080`: open http://BOARD:8080/ in any browser. Standard library only
(http.server, one thread per client; Python 3.6: ThreadingMixIn, no ThreadingHTTPServer).
Paths: ``/`` a page showing the stream, ``/stream`` multipart/x-mixed-replace JPEGs, ``/snapshot.jpg``
the newest frame. Frames are JPEG-encoded once (only while someone watches) and shared by all
clients; a slow client skips frames instead of slowing the demo.
"""

import errno
import logging
import socket
import threading

from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

from espnet_edge.errors import UserError

log = logging.getLogger(__name__)
BOUNDARY = "espnetedgeframe"
PAGE = ("<!DOCTYPE html><html><head><title>espnet-edge demo</title>"
        "<style>body{{margin:0;background:#111;color:#ccc;font-family:sans-serif}}"
        "img{{max-width:100%;display:block;margin:auto}}</style></head>"
        "<body><img src=\"/stream\" alt=\"espnet-edge stream\"><p>{}</p></body></html>")


class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    server_version = "espnet-edge-mjpeg"

    def log_message(self, fmt, *args):  # quiet: the demo prints its own line
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self):
        stream = self.server.stream
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            body = PAGE.format(stream.title).encode("utf-8")
            self._send(200, "text/html; charset=utf-8", body)
        elif path == "/snapshot.jpg":
            frame = stream.wait_frame(0, timeout=5.0)
            if frame is None:
                self._send(503, "text/plain", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", frame[1])
        elif path == "/stream":
            self._stream(stream)
        else:
            self._send(404, "text/plain", b"not found: try / or /stream\n")

    def _send(self, code, kind, body):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, stream):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=" + BOUNDARY)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Pragma", "no-cache")
        self.end_headers()
        stream.clients_changed(+1)
        seen = 0
        try:
            while not stream.closed:
                frame = stream.wait_frame(seen, timeout=1.0)
                if frame is None:
                    continue
                seen, data = frame
                self.wfile.write("--{}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n".format(
                    BOUNDARY, len(data)).encode("ascii"))
                self.wfile.write(data)
                self.wfile.write(b"\r\n")
                self.wfile.flush()
        except (IOError, OSError):  # the browser went away
            pass
        finally:
            stream.clients_changed(-1)


def reachable_address():
    """This machine's address on its default route (a UDP socket is connected, nothing is sent), else its
    host name: what a browser on another machine types."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))   # TEST-NET-1 (RFC 5737): never routed anywhere real
        return probe.getsockname()[0]
    except (IOError, OSError):
        return socket.gethostname() or "localhost"
    finally:
        probe.close()


class MjpegServer(object):
    """Binds at construction (a port in use is a one-line UserError); write(image) publishes."""

    def __init__(self, host, port, quality=80, title="espnet-edge demo", url=None):
        self.host = host
        self.port = int(port)
        self.quality = int(quality)
        self.title = title
        self.url = url or "http://{}:{}".format(host, port)
        self.closed = False
        self.frames = 0
        self.served = 0  # frames encoded because someone was watching
        self._clients = 0
        self._cond = threading.Condition()
        self._latest = None  # (sequence number, jpeg bytes)
        try:
            self._server = _Server((host, self.port), _Handler)
        except socket.gaierror:
            raise UserError("--output {}: unknown host {!r}; use 0.0.0.0 (every interface) or an "
                            "address of this machine".format(self.url, host))
        except (IOError, OSError) as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError("--output {}: port {} is in use (another demo or server?); choose another "
                                "port".format(self.url, self.port))
            if exc.errno == errno.EACCES:
                raise UserError("--output {}: no permission to listen on port {} (ports below 1024 need "
                                "root); choose a port >= 1024".format(self.url, self.port))
            raise UserError("--output {}: cannot listen on {}:{} ({})".format(self.url, host, self.port, exc))
        self._server.stream = self
        self.port = self._server.server_address[1]  # the real one when port 0 was asked
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mjpeg-server")
        self._thread.daemon = True
        self._thread.start()

    def urls(self):
        """-> {"page", "stream", "snapshot"}: what a user opens, on an address others can reach (this
        machine's outbound address when the server listens on every interface)."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = reachable_address()
        if ":" in host:
            host = "[{}]".format(host)
        base = "http://{}:{}".format(host, self.port)
        return {"page": base + "/", "stream": base + "/stream", "snapshot": base + "/snapshot.jpg"}

    def describe(self):
        """The line the demo prints when the server starts."""
        urls = self.urls()
        text = "serving the overlay: {} in a browser, {} (MJPEG) in a player (VLC, ffplay, mpv), {} for the " \
               "newest frame".format(urls["page"], urls["stream"], urls["snapshot"])
        if self.host in ("", "0.0.0.0", "::"):
            text += " (listening on every interface; on this machine also http://localhost:{}/)".format(self.port)
        return text

    @property
    def clients(self):
        with self._cond:
            return self._clients

    def clients_changed(self, delta):
        with self._cond:
            self._clients += delta

    def write(self, image):
        """Publish a BGR uint8 frame (JPEG-encoded only while a client is watching or none was sent yet)."""
        self.frames += 1
        if self._latest is not None and not self.clients:
            return
        import cv2

        ok, data = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), self.quality])
        if not ok:
            raise UserError("cannot encode the frame as JPEG for {}".format(self.url))
        with self._cond:
            sequence = (self._latest[0] if self._latest else 0) + 1
            self._latest = (sequence, data.tobytes())
            self.served += 1
            self._cond.notify_all()

    def wait_frame(self, after, timeout=1.0):
        """-> (sequence, jpeg) newer than ``after``, or None on timeout / close."""
        with self._cond:
            if (self._latest is None or self._latest[0] <= after) and not self.closed:
                self._cond.wait(timeout)
            if self._latest is not None and self._latest[0] > after:
                return self._latest
            return None

    def close(self):
        """Stop serving (clients see the stream end); -> the URL."""
        if not self.closed:
            with self._cond:
                self.closed = True
                self._cond.notify_all()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        return self.url
