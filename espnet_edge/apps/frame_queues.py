"""Frames read on a thread and handed between the demo's and end-to-end bench's threads: FrameGrabber reads a
source (apps/sources.py) on a daemon thread into an OrderedFrameQueue (every frame, in order: files) or a
LatestFrameSlot (the newest frame only: cameras); END marks the end of the frames."""

import queue
import threading
import time

from espnet_edge.errors import UserError
from espnet_edge.utils.priority import lower_this_thread

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
        if not self.newest_only:
            # reading ahead of a file must not take cores from the runtime: when they are all busy, the
            # reader waits for the runtime's gaps (it needs a few ms per frame) instead of stalling it
            lower_this_thread()
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
