"""The life of a pinned clock, the same for every clock (GPU devfreq: jetson/clocks.py; memory clock:
jetson/emc.py):

    check the request (nothing touched) -> lock (one owner per clock) -> take over a leftover state
    (a pin whose process died: put it back first) -> save the original (clock_state, on disk before the
    first write) -> write the pin -> read it back -> ... -> restore -> forget the saved state -> unlock

Signals: from the lock on, Ctrl-C/SIGTERM/SIGHUP restore first and then end the run (utils/signals
``cleanup_on_termination``); a signal arriving during a write sequence waits for its end
(``signals.deferred``). A SIGKILL leaves the saved state, which `espnet-edge clocks restore`
(``put_back_saved``) or the next pin puts back. A dry run checks and shows the writes, nothing more.

A clock supplies only its facts and its reads and writes: ``prepare``, ``read_original``,
``write_pin``, ``read_back``, ``put_back``, ``describe`` (and the class attributes below).
"""

import logging

from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state
from espnet_edge.jetson.clock_lock import ClockLock
from espnet_edge.jetson.sysfs_writer import LOGGER, SysfsWriter, say
from espnet_edge.utils import signals


class ClockPin(object):
    """Context manager: pin on enter, restore on every way out."""

    clock = None            # clock_state's key: "gpu" or "emc"
    label = None            # the clock in messages: "GPU clock"
    lock_paths = ()         # ClockLock's files
    lock_what = None        # the clock in the lock's messages
    owner_words = None      # "the GPU": "found the GPU left pinned by PID ..."
    state_words = None      # "clock state": "discarded a saved clock state from before a reboot ..."
    logger = logging.getLogger(__name__)

    def __init__(self, dry_run=False, log=LOGGER, writer=None, persistent=False):
        self.dry_run = dry_run
        self.log = log
        self.persistent = persistent   # `clocks set`: the pin outlives the process, `clocks restore` undoes it
        self.writer = writer or SysfsWriter(log=log, label=self.label, via=self.logger)
        self.writer.dry_run = dry_run
        self.info = None               # detect.JetsonInfo
        self.original = None           # the clock's saved record(s): what restore puts back
        self.took_over_stale = False
        self.kept_earlier_state = False
        self._lock = ClockLock(self.lock_paths, self.lock_what)
        self._touched = False
        self._restored = False
        self._state_role = None   # "file": we wrote the state file; "run": our record sits in a `clocks set` file
        self._unhook = None

    # -- what a clock supplies --------------------------------------------------------------------
    def prepare(self):
        """Detect the board (self.info), check the request and the permissions; writes nothing."""
        raise NotImplementedError

    def read_original(self):
        """The clock's state now, as the record(s) clock_state saves (read again under the lock)."""
        raise NotImplementedError

    def write_pin(self):
        raise NotImplementedError

    def read_back(self):
        """UserError when the clock does not read back the pin (not called in a dry run)."""
        raise NotImplementedError

    def put_back(self, records, after_pin=False):
        """Write saved record(s) back. ``after_pin``: undoing our own pin (a dry run plans the writes from
        the pinned state it did not write)."""
        raise NotImplementedError

    def describe(self, records):
        """The saved record(s) in words: 'min 114.75 MHz / max 1300.5 MHz / governor nvhost_podgov'."""
        raise NotImplementedError

    def say(self, message):
        say(self.log, self.label, message, self.logger)

    # -- entering ---------------------------------------------------------------------------------
    def __enter__(self):
        self.prepare()
        if not self.dry_run:
            self._lock.acquire()
        try:
            if not self.dry_run:
                self._unhook = signals.cleanup_on_termination(self._restore_and_unlock)
            with signals.deferred():
                if not self.dry_run:
                    self._take_over_leftover()
                self.original = self.read_original()
                if not self.dry_run:
                    self._save_state()
                self._touched = True
                self.write_pin()
                if not self.dry_run:
                    self.read_back()
        except UserError as exc:
            touched = self._touched
            problems = self._restore_and_unlock()
            if touched and not problems and not self.dry_run:
                raise type(exc)("{}; the previous clock settings were put back".format(exc))
            raise
        except BaseException:
            self._restore_and_unlock()
            raise
        return self

    def _take_over_leftover(self):
        """A state file left by a run that is gone (we hold the lock, so its owner is not running): put
        its pin back first rather than saving that pin as "original"."""
        data = clock_state.read(self.clock)
        if data is None:
            return
        if not clock_state.belongs_here(data, self.info):
            clock_state.remove(self.clock)
            self.say("discarded a saved {} from before a reboot or another board".format(self.state_words))
            return
        run = data.get("run")
        if run is not None:
            self.put_back(clock_state.records_of(run, self.clock))
            del data["run"]
            clock_state.write(data, self.clock)
            self.took_over_stale = True
            self.say("found {} pinned by PID {} which is gone; put back the `clocks set` pin it ran on "
                     "first".format(self.owner_words, run.get("pid")))
        if not data.get("persistent"):
            records = clock_state.records_of(data, self.clock)
            self.put_back(records)
            clock_state.remove(self.clock)
            self.took_over_stale = True
            self.say("found {} left pinned by PID {} which is gone; restored {} first".format(
                self.owner_words, data.get("pid"), self.describe(records)))

    def _save_state(self):
        """Before the first write: the original state on disk (fsync + rename)."""
        data = clock_state.read(self.clock)
        if data is None:
            clock_state.write(clock_state.new_state(self.info, self.original, self.persistent, self.clock),
                              self.clock)
            self._state_role = "file"
        elif self.persistent:
            self.kept_earlier_state = True   # a second `clocks set` keeps the first one's original
        else:
            data["run"] = clock_state.run_record(self.original, self.clock)
            clock_state.write(data, self.clock)
            self._state_role = "run"

    def _forget_state(self):
        """After a complete restore: the saved state (or our run record in it) is no longer needed."""
        role, self._state_role = self._state_role, None
        if role == "file":
            clock_state.remove(self.clock)
        elif role == "run":
            data = clock_state.read(self.clock)
            if data is not None and data.pop("run", None) is not None:
                clock_state.write(data, self.clock)

    # -- leaving ----------------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb):
        if self.persistent and exc_type is None:
            self._restored = True   # `clocks set`: the pin outlives us; `clocks restore` undoes it
            self._state_role = None
        self._restore_and_unlock()
        return False

    def restore(self):
        """Put back the original (once). Returns a list of problems (empty when all went back)."""
        if self._restored or not self._touched:
            self._restored = True
            return []
        self._restored = True
        try:
            self.put_back(self.original, after_pin=True)
        except UserError as exc:
            self.say("error: could not restore: {}".format(exc))
            return [str(exc)]
        if not self.dry_run:
            self.say("restored {}".format(self.describe(self.original)))
        return []

    def _restore_and_unlock(self):
        """Restore and forget the state (signals wait), then drop our signal handlers and the lock. Safe
        to call again: a signal handler calls it too."""
        try:
            with signals.deferred():
                problems = self.restore()
                if not problems:
                    self._forget_state()
        finally:
            unhook, self._unhook = self._unhook, None
            if unhook is not None:
                unhook()
            self._lock.release()
        return problems

    # -- `espnet-edge clocks restore` -------------------------------------------------------------
    def detect_for_restore(self):
        """Detect the board (self.info) for ``put_back_saved``; UserError where the clock cannot be here."""
        raise NotImplementedError

    def stale_state(self):
        """The saved state is from before a reboot or another board (already removed): say so and
        return None, or raise."""
        raise NotImplementedError

    def check_restore(self, records):
        """UserError unless the saved ``records`` can be written back here (paths, permissions)."""
        raise NotImplementedError

    def put_back_saved(self):
        """Put back the original a state file holds (a `clocks set` pin, or a pin whose process died) and
        remove the file; -> the state, or None when there is none."""
        data = clock_state.read(self.clock)
        if data is None:
            return None
        self.detect_for_restore()
        if not clock_state.belongs_here(data, self.info):
            if not self.dry_run:
                clock_state.remove(self.clock)
            return self.stale_state()
        records = clock_state.records_of(data, self.clock)
        self.check_restore(records)
        if not self.dry_run:
            self._lock.acquire()
        try:
            with signals.deferred():
                self.put_back(records)
                if not self.dry_run:
                    clock_state.remove(self.clock)
        finally:
            self._lock.release()
        return data
