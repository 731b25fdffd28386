"""A child process whose output we read while it runs (tegrastats): bytes in, never a dead thread.

stdout is read line by line on a thread and decoded as UTF-8 with every undecodable byte replaced
(U+FFFD), each line at most ``max_line`` bytes (longer ones arrive in pieces), so no byte a child prints
can kill the reader; stderr is drained on a second thread (a chatty child never blocks on a full pipe)
keeping its last few KB for messages. A failure of either thread is kept in ``failure`` for the
caller's health check instead of being lost on a dead thread.
"""

import functools
import signal
import subprocess
import threading
import time

REPLACEMENT = u"\ufffd"


class ChildLines(object):
    """Run ``argv``; call ``on_line(arrival time, text)`` for every line of its stdout."""

    def __init__(self, argv, on_line, name="child", max_line=65536, keep_stderr=8192):
        self.argv = list(argv)
        self.on_line = on_line
        self.name = name
        self.max_line = int(max_line)
        self.keep_stderr = int(keep_stderr)
        self.proc = None
        self.failure = None        # one line: why reading stopped early (the reader or drainer failed)
        self.undecodable = 0       # lines that held bytes that are not UTF-8
        self.lines = 0
        self.last_line_at = None   # time.monotonic() of the newest line
        self._stderr = b""
        self._threads = []

    def start(self):
        """Popen (OSError goes to the caller, who knows what to advise) and start both readers."""
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for target, label in ((self._read, "reader"), (self._drain, "stderr")):
            thread = threading.Thread(target=self._guarded, args=(target,), name="{}-{}".format(self.name, label))
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def _guarded(self, target):
        try:
            target()
        except Exception as exc:   # noqa: BLE001 - kept for the caller's health check, never lost
            if self.failure is None:
                self.failure = "reading the output of {} failed ({}: {})".format(
                    self.name, type(exc).__name__, exc)

    def _read(self):
        for raw in iter(functools.partial(self.proc.stdout.readline, self.max_line), b""):
            now = time.time()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if REPLACEMENT in text and u"\ufffd".encode("utf-8") not in raw:
                self.undecodable += 1
            self.lines += 1
            self.last_line_at = time.monotonic()
            if text.strip():
                self.on_line(now, text)

    def _drain(self):
        for block in iter(functools.partial(self.proc.stderr.read1 if hasattr(self.proc.stderr, "read1")
                                            else self.proc.stderr.read, 4096), b""):
            self._stderr = (self._stderr + block)[-self.keep_stderr:]

    @property
    def stderr_text(self):
        return self._stderr.decode("utf-8", "replace")

    def poll(self):
        return self.proc.poll() if self.proc is not None else None

    def join(self, timeout):
        for thread in self._threads:
            thread.join(timeout)

    def stop(self, timeout=3.0):
        """SIGTERM, then SIGKILL after ``timeout`` s; readers joined, pipes closed; -> the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        self.join(timeout)
        if not any(thread.is_alive() for thread in self._threads):
            # a reader still blocked (a grandchild holds the pipe) keeps its stream: closing it under the
            # reader would wait on the reader's lock; the daemon thread ends with the process
            for stream in (self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
        return self.proc.returncode
