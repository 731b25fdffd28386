"""Pin the memory clock (EMC) where the board allows it, and always put it back.

Paths per SoC are facts in boards.EMC_BY_SOC (NVIDIA's jetson_clocks do_emc): lock the rate
(mrq_rate_locked / clk_state := 1), write the rate, read it back. The lifecycle (one owner per clock, the
original saved before the first write as clock_state's "emc" file, a leftover of a killed pin put back
first, signals, restore on every exit path) is jetson/pin.py's, the same as the GPU pin's; `espnet-edge
clocks restore` undoes a pin whose process was SIGKILLed (``restore_saved``).
"""

import logging
import os

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clock_state, detect, sysfs
from espnet_edge.jetson.pin import ClockPin
from espnet_edge.jetson.sysfs_writer import LOGGER

LOCK_PATHS = ("/run/lock/espnet-edge-emc-clock.lock", "/tmp/espnet-edge-emc-clock.lock")
SNAP_TOLERANCE_MHZ = 5      # a requested rate further than this from every rate the firmware lists is refused
READBACK_TOLERANCE_MHZ = 1  # the rate must read back within this of the one written


def _paths():
    info = detect.detect()
    soc = info.board.soc if info.board else None
    entry = boards.EMC_BY_SOC.get(soc)
    return info, soc, boards.value_of(entry) if entry else None


def read_rate_hz():
    _info, _soc, paths = _paths()
    return sysfs.read_hz(sysfs.path(paths["rate"])) if paths else None


def _possible_hz(paths):
    """EMC rates the firmware accepts (Hz), or None when the board does not list them."""
    if not paths.get("possible"):
        return None
    text = sysfs.read_board(paths["possible"]) or ""
    values = [int(word) * 1000 for word in text.replace("(kHz)", "").split() if word.isdigit()]
    return values or None


class EmcPin(ClockPin):
    """Context manager returned by pin_emc(): .requested_mhz, .applied_mhz, .paths; ``mhz`` None for
    ``put_back_saved`` only."""

    clock = "emc"
    label = "EMC clock"
    lock_paths = LOCK_PATHS
    lock_what = "memory clock"
    owner_words = "the memory clock"
    state_words = "memory clock state"
    logger = logging.getLogger(__name__)

    def __init__(self, mhz, log=LOGGER, writer=None, dry_run=False):
        ClockPin.__init__(self, dry_run=dry_run, log=log, writer=writer)
        self.requested_mhz = mhz
        self.applied_mhz = None
        self.paths = None
        self.soc = None
        self._target_hz = None

    def _fail(self, why):
        return UserError("--emc {}: {}".format(self.requested_mhz, why))

    def prepare(self):
        self.info, self.soc, paths = _paths()
        if not self.info.is_jetson:
            raise self._fail("not a Jetson; the memory clock can only be pinned on a Jetson board")
        if not paths:
            raise self._fail("this board ({}, {}) has no sourced way to pin the memory clock; run without "
                             "--emc".format(self.info.board_name, self.soc or "unknown SoC"))
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
            if abs(target - self.requested_mhz * 1e6) > SNAP_TOLERANCE_MHZ * 1e6:
                raise self._fail("not an EMC rate of this board; choose one of {} MHz".format(
                    ", ".join("{:g}".format(hz / 1e6) for hz in possible)))
        self.paths, self._target_hz = paths, target
        self.applied_mhz = target / 1e6

    def read_original(self):
        rate, lock = self.paths["rate"], self.paths["lock"]
        return clock_state.emc_record(rate, lock, sysfs.read_hz(sysfs.path(rate)),
                                      1 if sysfs.read_board(lock) == "1" else 0)

    def write_pin(self):
        self.writer.write(sysfs.path(self.paths["lock"]), "1")
        self.writer.write(sysfs.path(self.paths["rate"]), str(self._target_hz))

    def read_back(self):
        now = sysfs.read_board(self.paths["rate"])
        if now is None or not now.isdigit() or abs(int(now) - self._target_hz) > READBACK_TOLERANCE_MHZ * 1e6:
            raise self._fail("the firmware kept the EMC at {} Hz (it refuses rates it was not set up for)"
                             .format(now))
        self.say("pinned {:g} MHz".format(self.applied_mhz))

    def put_back(self, record, after_pin=False):
        """The rate, then the lock. UserError when the record names other files than this board's EMC clock."""
        paths = self.paths
        if (record["rate"], record["lock"]) != (paths["rate"], paths["lock"]):
            raise UserError("{} names {} but this board's memory clock is {}; {}".format(
                clock_state.EMC_STATE_PATH, record["rate"], paths["rate"], clock_state.RESET_HINTS["emc"]))
        if record["rate_hz"] is not None:
            self.writer.write(sysfs.path(paths["rate"]), str(record["rate_hz"]))
        self.writer.write(sysfs.path(paths["lock"]), str(record["locked"]))

    def describe(self, record):
        return "{} Hz".format(record["rate_hz"])

    # `clocks restore`
    def detect_for_restore(self):
        self.info, self.soc, self.paths = _paths()

    def stale_state(self):
        self.say("discarded a saved {} from before a reboot or another board".format(self.state_words))
        return None

    def check_restore(self, record):
        if not self.paths:
            raise UserError("{} holds a memory clock pin but this board ({}) has no sourced EMC paths; {}".format(
                clock_state.EMC_STATE_PATH, self.soc or "unknown SoC", clock_state.RESET_HINTS["emc"]))


def restore_saved(dry_run=False, log=LOGGER, writer=None):
    """`clocks restore`: put back the EMC state a pin left (its process died); returns the saved state, or
    None when there is none."""
    return EmcPin(None, log=log, writer=writer, dry_run=dry_run).put_back_saved()


def pin_emc(mhz, log=LOGGER, writer=None, dry_run=False):
    """Context manager pinning the EMC to ``mhz`` (nearest rate the firmware lists); one-line UserError
    where the board cannot; restored on exit."""
    return EmcPin(mhz, log=log, writer=writer, dry_run=dry_run)
