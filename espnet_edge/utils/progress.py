"""Progress bars on stderr: tqdm where it is installed (a dependency; 4.64.1 is its last release for
Python 3.6), else a dependency-free bar. Quiet when stderr is not a terminal (unless forced) and under
``--quiet`` (the ``espnet_edge`` logger above INFO)."""

import logging
import sys
import time


def _shown_by_default(stream):
    return stream.isatty() and logging.getLogger("espnet_edge").isEnabledFor(logging.INFO)


def _tqdm_class():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress(object):
    """``Progress(total, label)``: ``update(step)``, ``close()``, a context manager; ``count`` is the
    number of steps so far. ``total`` 0 or None: a counter without an end."""

    def __init__(self, total, label="", stream=None, enabled=None, width=30):
        self.total = max(int(total or 0), 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = _shown_by_default(self.stream) if enabled is None else enabled
        self.width = width
        self.count = 0
        self.started = time.time()
        self._last_draw = 0.0
        self._bar = None
        tqdm = _tqdm_class() if self.enabled else None
        if tqdm is not None:
            self._bar = tqdm(total=self.total or None, desc=label, file=self.stream, leave=True,
                             dynamic_ncols=True, mininterval=0.1)

    def update(self, step=1):
        self.count += step
        if self._bar is not None:
            self._bar.update(step)
            return
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
            text = "\r{} [{}] {:g}/{} {:.1f}s".format(self.label, bar, self.count, self.total, elapsed)
        else:
            text = "\r{} {:g} {:.1f}s".format(self.label, self.count, elapsed)
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self.enabled = False
        if self.enabled:
            self._draw(time.time())
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
