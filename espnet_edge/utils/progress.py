"""A dependency-free progress bar on stderr (quiet when stderr is not a terminal, unless forced)."""

import sys
import time


class Progress(object):
    def __init__(self, total, label="", stream=None, enabled=None, width=30):
        self.total = max(int(total or 0), 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.count = 0
        self.started = time.time()
        self._last_draw = 0.0

    def update(self, step=1):
        self.count += step
        now = time.time()
        if self.enabled and (now - self._last_draw > 0.1 or self.count >= self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now):
        elapsed = now - self.started
        if self.total:
            frac = min(self.count / float(self.total), 1.0)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = "\r{} [{}] {}/{} {:.1f}s".format(self.label, bar, self.count, self.total, elapsed)
        else:
            text = "\r{} {} {:.1f}s".format(self.label, self.count, elapsed)
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.enabled:
            self._draw(time.time())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
