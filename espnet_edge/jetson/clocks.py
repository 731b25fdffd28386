"""Pin the Jetson GPU to one devfreq table frequency and always put it back.

API used by bench/profile/sweep:
    parse_freq_list("824,1134") -> [824, 1134]
    with pin_gpu(824) as pin:        # pin.requested_mhz == 824, pin.applied_mhz == 828.75 on a TX2
        ...
The lifecycle (lock, leftover state, saved original, signals, restore) is jetson/pin.py's, shared with
the memory clock; this module supplies the GPU's reads and writes (jetson/devfreq.py). `espnet-edge
clocks set` pins until `clocks restore` (``set_persistent`` / ``restore_persistent``).

The GPU clock's public names live here for callers: the table helpers (jetson/freq_table.py), the
devfreq reader (``GpuState``) and the writer (``SysfsWriter``, ``LOGGER``).
"""

import logging

from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state, detect, devfreq, sysfs
from espnet_edge.jetson.devfreq import (  # noqa: F401 - plan_minmax_writes: public here
    NOT_JETSON, PIN_GOVERNOR, GpuState, detect_or_power_up, gpus_by_devfreq, plan_minmax_writes, read_int,
    write_access_error)
from espnet_edge.jetson.freq_table import fmt_mhz, mhz, parse_freq_list, snap_to_table  # noqa: F401
from espnet_edge.jetson.pin import ClockPin
from espnet_edge.jetson.sysfs_writer import LOGGER, SysfsWriter  # noqa: F401

LOCK_PATHS = ("/run/lock/espnet-edge-gpu-clock.lock", "/tmp/espnet-edge-gpu-clock.lock")
STATE_PATH = clock_state.STATE_PATH


class GpuClockPin(ClockPin):
    """Context manager returned by pin_gpu(): .requested_mhz, .applied_mhz, .cur_mhz, .rail_gated,
    .nvpmodel_mode, .info; ``freq_mhz`` None for ``put_back_saved`` only."""

    clock = "gpu"
    label = devfreq.LABEL
    lock_paths = LOCK_PATHS
    lock_what = "GPU clock"
    owner_words = "the GPU"
    state_words = "clock state"
    logger = logging.getLogger(__name__)

    def __init__(self, freq_mhz, dry_run=False, log=LOGGER, writer=None, persistent=False):
        ClockPin.__init__(self, dry_run=dry_run, log=log, writer=writer, persistent=persistent)
        self.requested_mhz = freq_mhz
        self.applied_mhz = None
        self.applied_hz = None
        self.cur_mhz = None
        self.rail_gated = False
        self.nvpmodel_mode = None
        self.saved = []          # [(gpu, GpuState before we touched it)]

    def prepare(self):
        self.info = info = detect_or_power_up(self.writer, self.log, self.dry_run)
        states = [GpuState(gpu) for gpu in info.gpus]
        self.applied_hz = snap_to_table(self.requested_mhz, states[0].table)
        self.applied_mhz = mhz(self.applied_hz)
        cap_error, self.nvpmodel_mode = devfreq.mode_cap_error(self.applied_hz, states[0].table, info.kernel_generation)
        if cap_error:
            raise cap_error
        paths = []
        for state in states:
            paths += [state.gpu.file("min_freq"), state.gpu.file("max_freq")]
            if state.wants_governor:
                paths.append(state.gpu.file("governor"))
        denied = write_access_error(paths, info.gpus[0])
        if denied and not self.dry_run:
            raise denied
        if denied:
            self.say("warning: {}".format(denied))

    def read_original(self):
        self.saved = [(gpu, GpuState(gpu)) for gpu in self.info.gpus]   # again, under the lock
        return [state.record() for _gpu, state in self.saved]

    def _target(self, state):
        return snap_to_table(self.applied_mhz, state.table)

    def write_pin(self):
        if self.applied_hz != self.requested_mhz * 1e6:
            self.say("warning: requested {} MHz, applied {} (nearest available_frequencies step)".format(
                self.requested_mhz, fmt_mhz(self.applied_hz)))
        for gpu, state in self.saved:
            target = self._target(state)
            if state.wants_governor:
                self.writer.write(gpu.file("governor"), PIN_GOVERNOR)
                if not self.dry_run and sysfs.read_text(gpu.file("governor")) != PIN_GOVERNOR:
                    raise UserError("the GPU devfreq refused governor {!r} (it reads {!r})".format(
                        PIN_GOVERNOR, sysfs.read_text(gpu.file("governor"))))
            for name, value in plan_minmax_writes(state.min_hz, state.max_hz, target, target):
                self.writer.write(gpu.file(name), value)
        if self.dry_run:
            self.say("dry-run: would pin {} on {}".format(fmt_mhz(self.applied_hz), self.info.board_name))

    def read_back(self):
        for gpu, state in self.saved:
            target = self._target(state)
            problem = devfreq.readback_problem(read_int(gpu.file("min_freq")), read_int(gpu.file("max_freq")), target,
                                       self.info.kernel_generation)
            if problem:
                raise UserError(problem)
            cur_hz = devfreq.read_cur_hz(gpu)
            if gpu is self.saved[0][0]:
                self.cur_mhz = mhz(cur_hz) if cur_hz is not None else None
                self.rail_gated = cur_hz == 0
            if cur_hz == 0:
                self.say("cur_freq reads 0: the GPU is rail-gated while idle; the pin applies when it wakes")
            elif cur_hz is not None and cur_hz != target:
                self.say("note: cur_freq reads {} (not yet {}); it follows once the GPU is busy".format(
                    fmt_mhz(cur_hz), fmt_mhz(target)))
        self.say("pinned {} on {}".format(fmt_mhz(self.applied_hz), self.info.board_name))

    def put_back(self, records, after_pin=False):
        problems = []
        pinned = dict((id(gpu), state) for gpu, state in self.saved) if after_pin and self.dry_run else {}
        for gpu, saved_record in gpus_by_devfreq(self.info, records):
            state = pinned.get(id(gpu))
            now = None
            if state is not None:   # a dry run: the files would read the pin it did not write
                target = self._target(state)
                now = (target, target, PIN_GOVERNOR if state.wants_governor else state.governor)
            try:
                devfreq.put_back(gpu, saved_record, self.writer, now)
            except UserError as exc:
                problems.append(str(exc))
        if problems:
            raise UserError("; ".join(problems))

    def describe(self, records):
        first = records[0]
        return "min {} / max {} / governor {}".format(fmt_mhz(first["min_freq"]), fmt_mhz(first["max_freq"]),
                                                      first.get("governor"))

    # `clocks restore`
    def detect_for_restore(self):
        self.info = detect.detect()
        if not self.info.is_jetson:
            raise UserError(NOT_JETSON.replace("--freq needs", "clocks restore needs"))

    def stale_state(self):
        raise UserError("the saved clock state is from before a reboot or from another board (the kernel "
                        "reset the clock since); removed it, nothing to restore")

    def check_restore(self, records):
        paths = []
        for gpu, _record in gpus_by_devfreq(self.info, records):
            paths += [gpu.file("min_freq"), gpu.file("max_freq"), gpu.file("governor")]
        denied = write_access_error(paths, self.info.gpus[0])
        if denied and not self.dry_run:
            raise denied


def pin_gpu(freq_mhz, dry_run=False, log=LOGGER, writer=None):
    """Context manager: pin the GPU to the table step nearest ``freq_mhz`` MHz; yields the pin object
    (.requested_mhz, .applied_mhz, .cur_mhz, .rail_gated, .nvpmodel_mode, .info)."""
    return GpuClockPin(freq_mhz, dry_run=dry_run, log=log, writer=writer)


def check_pinnable(freqs_mhz, flag="--freq"):
    """Fail before the first run when any of several frequencies cannot be pinned here (not a
    Jetson, outside the table, above the nvpmodel cap, no write access): a dry run of each pin.
    ``flag``: the option the user typed, for the messages."""
    try:
        detect_or_power_up(SysfsWriter(), LOGGER)   # a GPU rail-gated since boot is powered up once here
        for freq in freqs_mhz:
            with pin_gpu(freq, dry_run=True, log=None):
                pass
    except UserError as exc:
        if str(exc) == NOT_JETSON:
            raise UserError(NOT_JETSON.replace("--freq", flag) + "; without {} it runs here at the GPU's own "
                            "clock".format(flag))
        raise


# -- persistent pin: `espnet-edge clocks set` / `clocks restore` -----------------------------------
def read_saved_state():
    return clock_state.read()


def set_persistent(freq_mhz, dry_run=False, log=LOGGER, writer=None):
    """Pin until `clocks restore`; the original state is saved once (a second `set` keeps the first one)."""
    pin = GpuClockPin(freq_mhz, dry_run=dry_run, log=log, writer=writer, persistent=True)
    with pin:
        pass
    return pin


def restore_persistent(dry_run=False, log=LOGGER, writer=None):
    """Put back the original state saved by `clocks set` or by a pinning run that died; returns it."""
    saved = GpuClockPin(None, dry_run=dry_run, log=log, writer=writer).put_back_saved()
    if saved is None:
        raise UserError("nothing to restore: no saved clock state at {} (no pin is active, or it was "
                        "already restored)".format(STATE_PATH))
    return saved
