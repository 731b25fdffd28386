"""Pin the memory clock (EMC) where the board allows it, and always put it back.

Paths per SoC are facts in boards.EMC_BY_SOC (NVIDIA's jetson_clocks do_emc): lock the rate
(mrq_rate_locked / clk_state := 1), write the rate, read it back. The previous rate and lock come back
on every exit path (normal, exception, Ctrl-C and, under signals_as_interrupt, SIGTERM/SIGHUP). As for
the GPU pin (jetson/clocks.py), one run holds the memory clock at a time (a lock file), the original state
is saved (jetson/clock_state.py, clock "emc") before the first write, so `espnet-edge clocks restore`
undoes a pin whose process was SIGKILLed, and a new pin finding such a leftover restores it first.
Signals wait for each write sequence to end (utils/signals.deferred).
"""

import os
import sys

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clock_state, detect, sysfs
from espnet_edge.utils.signals import deferred

LOCK_PATHS = ("/run/lock/espnet-edge-emc-clock.lock", "/tmp/espnet-edge-emc-clock.lock")


def _paths():
    info = detect.detect()
    soc = info.board.soc if info.board else None
    entry = boards.EMC_BY_SOC.get(soc)
    return info, soc, boards.value_of(entry) if entry else None


def read_rate_hz():
    _info, _soc, paths = _paths()
    if not paths:
        return None
    text = sysfs.read_board(paths["rate"])
    return int(text) if text and text.isdigit() and len(text) < 13 else None


def _possible_hz(paths):
    """EMC rates the firmware accepts (Hz), or None when the board does not list them."""
    if not paths.get("possible"):
        return None
    text = sysfs.read_board(paths["possible"]) or ""
    values = [int(word) * 1000 for word in text.replace("(kHz)", "").split() if word.isdigit()]
    return values or None


def _say(log, message):
    if log is not None:
        log.write("EMC clock: {}\n".format(message))
        log.flush()


def _lock():
    from espnet_edge.jetson.clocks import ClockLock

    return ClockLock(LOCK_PATHS, "memory clock")


def put_back(paths, record, writer):
    """Write a saved EMC record (clock_state.emc_record) back: the rate, then the lock. UserError when the
    record names other files than this board's EMC clock."""
    if (record["rate"], record["lock"]) != (paths["rate"], paths["lock"]):
        raise UserError("{} names {} but this board's memory clock is {}; {}".format(
            clock_state.EMC_STATE_PATH, record["rate"], paths["rate"], clock_state.RESET_HINTS["emc"]))
    if record["rate_hz"] is not None:
        writer.write(sysfs.path(paths["rate"]), str(record["rate_hz"]))
    writer.write(sysfs.path(paths["lock"]), str(record["locked"]))


def _leftover(info, log, dry_run=False):
    """The saved EMC state of this boot and board, or None; one from before a reboot is discarded."""
    data = clock_state.read("emc")
    if data is not None and not clock_state.belongs_here(data, info):
        if not dry_run:
            clock_state.remove("emc")
        _say(log, "discarded a saved memory clock state from before a reboot or another board")
        return None
    return data


def restore_saved(dry_run=False, log=sys.stderr, writer=None):
    """`clocks restore`: put back the EMC state a pin left (its process died); returns the saved state, or
    None when there is none."""
    from espnet_edge.jetson.clocks import SysfsWriter

    info, soc, paths = _paths()
    data = _leftover(info, log, dry_run)
    if data is None:
        return None
    if not paths:
        raise UserError("{} holds a memory clock pin but this board ({}) has no sourced EMC paths; {}".format(
            clock_state.EMC_STATE_PATH, soc or "unknown SoC", clock_state.RESET_HINTS["emc"]))
    writer = writer or SysfsWriter(dry_run=dry_run, log=log, label="EMC clock")
    lock = _lock()
    if not dry_run:
        lock.acquire()
    try:
        with deferred():
            put_back(paths, data["emc"], writer)
            if not dry_run:
                clock_state.remove("emc")
    finally:
        lock.release()
    return data


class EmcPin(object):
    def __init__(self, mhz, log=sys.stderr, writer=None, dry_run=False):
        from espnet_edge.jetson.clocks import SysfsWriter

        self.dry_run = dry_run
        self.requested_mhz = mhz
        self.applied_mhz = None
        self.log = log
        self.writer = writer or SysfsWriter(log=log, label="EMC clock")
        self.saved = None        # clock_state.emc_record of the state before we touched it
        self.paths = None
        self.took_over_stale = False
        self._lock = _lock()

    def _fail(self, why):
        return UserError("--emc {}: {}".format(self.requested_mhz, why))

    def __enter__(self):
        info, soc, paths = _paths()
        if not info.is_jetson:
            raise self._fail("not a Jetson; the memory clock can only be pinned on a Jetson board")
        if not paths:
            raise self._fail("this board ({}, {}) has no sourced way to pin the memory clock; run without "
                             "--emc".format(info.board_name, soc or "unknown SoC"))
        rate, lock = sysfs.path(paths["rate"]), sysfs.path(paths["lock"])
        if not os.path.exists(rate) or not os.path.exists(lock):
            raise self._fail("{} is missing (debugfs not mounted, or not root); run with sudo".format(paths["rate"]))
        for path in (rate, lock):
            if not os.access(path, os.W_OK):
                raise self._fail("no write permission on {}; run with sudo".format(paths["rate"]))
        target = int(round(self.requested_mhz * 1e6))
        possible = _possible_hz(paths)
        if possible:
            target = min(possible, key=lambda hz: abs(hz - target))
            if abs(target - self.requested_mhz * 1e6) > 1e6 * 5:
                raise self._fail("not an EMC rate of this board; choose one of {} MHz".format(
                    ", ".join("{:g}".format(hz / 1e6) for hz in possible)))
        self.paths = paths
        if self.dry_run:
            self.applied_mhz = target / 1e6
            return self
        self._lock.acquire()
        try:
            with deferred():
                self._take_over_leftover_state(info)
                rate_text, lock_text = sysfs.read_text(rate), sysfs.read_text(lock)
                self.saved = clock_state.emc_record(
                    paths["rate"], paths["lock"],
                    int(rate_text) if rate_text and rate_text.isdigit() else None,
                    1 if lock_text == "1" else 0)
                clock_state.write(clock_state.new_state(info, self.saved, False, clock="emc"), "emc")
                self.writer.write(lock, "1")
                self.writer.write(rate, str(target))
            now = sysfs.read_text(rate)
            if now is None or not now.isdigit() or abs(int(now) - target) > 1e6:
                raise self._fail("the firmware kept the EMC at {} Hz (it refuses rates it was not set up for)"
                                 .format(now))
        except BaseException:
            self.restore()
            raise
        self.applied_mhz = target / 1e6
        _say(self.log, "pinned {:g} MHz".format(self.applied_mhz))
        return self

    def _take_over_leftover_state(self, info):
        """A state left by a pin that is gone (we hold the lock, so its owner is not running): put it back
        first rather than saving that pin as "original"."""
        data = _leftover(info, self.log)
        if data is None:
            return
        put_back(self.paths, data["emc"], self.writer)
        clock_state.remove("emc")
        self.took_over_stale = True
        _say(self.log, "found the memory clock left pinned by PID {} which is gone; restored {} Hz first".format(
            data.get("pid"), data["emc"]["rate_hz"]))

    def restore(self):
        """Put back the saved rate and lock (once), forget the saved state, release the lock."""
        try:
            if self.saved is None:
                return
            with deferred():
                put_back(self.paths, self.saved, self.writer)
                clock_state.remove("emc")
            rate_hz, self.saved = self.saved["rate_hz"], None
            _say(self.log, "restored {} Hz".format(rate_hz))
        finally:
            self._lock.release()

    def __exit__(self, *exc):
        self.restore()
        return False


def pin_emc(mhz, log=sys.stderr, writer=None, dry_run=False):
    """Context manager pinning the EMC to ``mhz`` (nearest rate the firmware lists); one-line UserError
    where the board cannot; restored on exit."""
    return EmcPin(mhz, log=log, writer=writer, dry_run=dry_run)
