"""Pin the memory clock (EMC) where the board allows it, and always put it back.

Paths per SoC are facts in boards.EMC_BY_SOC (NVIDIA's jetson_clocks do_emc): lock the rate
(mrq_rate_locked / clk_state := 1), write the rate, read it back. The previous rate and lock come back
on every exit path (normal, exception, Ctrl-C and, under signals_as_interrupt, SIGTERM/SIGHUP).
"""

import os
import sys

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, detect, sysfs


def _paths():
    info = detect.detect()
    soc = info.board["soc"] if info.board else None
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


class EmcPin(object):
    def __init__(self, mhz, log=sys.stderr, writer=None, dry_run=False):
        from espnet_edge.jetson.clocks import SysfsWriter

        self.dry_run = dry_run
        self.requested_mhz = mhz
        self.applied_mhz = None
        self.log = log
        self.writer = writer or SysfsWriter(log=log)
        self.saved = None
        self.paths = None

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
        self.saved = (sysfs.read_text(rate), sysfs.read_text(lock))
        try:
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
        if self.log is not None:
            self.log.write("EMC clock: pinned {:g} MHz\n".format(self.applied_mhz))
        return self

    def restore(self):
        if self.saved is None:
            return
        rate_text, lock_text = self.saved
        self.saved = None
        rate, lock = sysfs.path(self.paths["rate"]), sysfs.path(self.paths["lock"])
        if rate_text and rate_text.isdigit():
            self.writer.write(rate, rate_text)
        self.writer.write(lock, lock_text if lock_text in ("0", "1") else "0")
        if self.log is not None:
            self.log.write("EMC clock: restored {} Hz\n".format(rate_text))

    def __exit__(self, *exc):
        self.restore()
        return False


def pin_emc(mhz, log=sys.stderr, writer=None, dry_run=False):
    """Context manager pinning the EMC to ``mhz`` (nearest rate the firmware lists); one-line UserError
    where the board cannot; restored on exit."""
    return EmcPin(mhz, log=log, writer=writer, dry_run=dry_run)
