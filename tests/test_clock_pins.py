"""Both pinned clocks (GPU devfreq, memory clock) live one lifecycle (jetson/pin.py): lock -> take over a
leftover -> save -> write -> read back -> restore -> forget -> unlock, with the same signal handling and
messages through logging. Each test drives both pins the same way on simulated boards (tests/sim_jetson.py:
a TX2 on kernel 4.9 and on 5.10 semantics, a Nano with the tegra210 memory clock); leftovers come from
real subprocesses SIGKILLed while pinned."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_cli
from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state, clocks, emc
from espnet_edge.jetson.clocks import GpuClockPin
from espnet_edge.jetson.emc import EmcPin
from sim_jetson import SimKernel, make_board_tree, read_freqs, sim_writer_class

BOARDS = [("tx2", "32.7.1"), ("tx2", "35.2.1"), ("nano", "32.7.3")]
EMC_HZ = 1866000000


class Clock(object):
    """What differs between the two pins, for the tests: how to make one, read it, and its words."""

    def __init__(self, name, paths):
        self.name, self.paths = name, paths
        self.state_file = os.path.join(paths["root"], clock_state.STATE_PATHS[name].lstrip("/"))
        self.original = self.now()

    def pin(self, **kwargs):
        if self.name == "gpu":
            return GpuClockPin(self.request, **kwargs)
        return EmcPin(self.request, **kwargs)

    @property
    def request(self):
        return 828 if self.name == "gpu" else 665

    def now(self):
        if self.name == "gpu":
            return read_freqs(self.paths)
        return tuple(open(self.paths[key]).read().strip() for key in ("emc_rate", "emc_lock"))

    def pinned(self):
        now = self.now()
        if self.name == "gpu":
            return now[:2] == (int(self.applied_hz), int(self.applied_hz))
        return now == (str(int(self.applied_hz)), "1")

    @property
    def applied_hz(self):
        """The step or rate the pin chooses (a dry run: nothing written)."""
        with self.pin(dry_run=True, log=None) as pin:
            return int(round(pin.applied_mhz * 1e6))

    def lock_file(self):
        paths = clocks.LOCK_PATHS if self.name == "gpu" else emc.LOCK_PATHS
        return os.path.join(self.paths["root"], paths[0].lstrip("/"))

    def put_back_saved(self):
        return (clocks.restore_persistent if self.name == "gpu" else emc.restore_saved)(log=None)

    @property
    def label(self):
        return "GPU clock" if self.name == "gpu" else "EMC clock"

    @property
    def owner_words(self):
        return "the GPU" if self.name == "gpu" else "the memory clock"


@pytest.fixture(params=BOARDS, ids=["-".join(b) for b in BOARDS])
def tree(request, tmp_path, monkeypatch):
    board, release = request.param
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    return make_board_tree(tmp_path, board=board, release=release, nvpmodel_mode=0, emc_hz=EMC_HZ)


@pytest.fixture(params=["gpu", "emc"])
def clock(request, tree):
    return Clock(request.param, tree)


def writer(hook=None):
    """The simulated kernel behind every write (5.10+ files read back the effective range)."""
    kernel = SimKernel()

    def both(path, value):
        if hook is not None:
            hook(path, value)
        kernel(path, value)

    return kernel, sim_writer_class()(hook=both)


def handlers():
    return [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]


# -- the lifecycle, in order ------------------------------------------------------------------------
def test_state_saved_and_lock_held_before_every_write_then_all_undone(clock):
    before = handlers()
    seen = []

    def hook(path, value):
        lock = open(clock.lock_file()).read().strip() if os.path.exists(clock.lock_file()) else None
        seen.append((os.path.exists(clock.state_file), lock))

    kernel, sim = writer(hook)
    with clock.pin(log=None, writer=sim) as pin:
        assert clock.pinned() and not pin.took_over_stale
        saved = json.load(open(clock.state_file))
        assert saved["pid"] == os.getpid() and saved["persistent"] is False and "run" not in saved
        assert handlers() != before   # restore-then-exit handlers are in place while pinned
    assert seen and all(entry == (True, str(os.getpid())) for entry in seen)
    assert len(sim.journal) == len(seen) >= 4   # at least two writes to pin, two to restore
    assert clock.now() == clock.original
    assert not os.path.exists(clock.state_file)
    assert handlers() == before
    with clock.pin(log=None):   # the lock was given up
        pass


def test_dry_run_checks_and_shows_but_touches_nothing(clock):
    log = io.StringIO()
    with clock.pin(log=log, dry_run=True):
        assert clock.now() == clock.original
    assert clock.now() == clock.original and not os.path.exists(clock.state_file)
    assert not os.path.exists(clock.lock_file())
    lines = log.getvalue().splitlines()
    # the pin's writes and the restore's, shown not done
    assert sum("dry-run: would write" in line for line in lines) >= 4, lines
    assert all(line.startswith(clock.label + ": ") for line in lines)


# -- signals -----------------------------------------------------------------------------------------
def test_signal_mid_write_waits_for_the_sequence_then_restores_and_exits(clock, default_signals):
    before = handlers()

    def hook(path, value):
        if not kernel.writes:
            os.kill(os.getpid(), signal.SIGTERM)   # arrives while the first pin write is under way

    kernel, sim = writer(hook)
    with pytest.raises(SystemExit) as stop:
        with clock.pin(log=None, writer=sim):
            raise AssertionError("the body must not run after a SIGTERM during pinning")
    assert stop.value.code == 143
    pinned_writes = len(sim.journal) // 2
    assert pinned_writes >= 2 and len(sim.journal) == 2 * pinned_writes   # the whole pin, then the whole restore
    assert clock.now() == clock.original and not os.path.exists(clock.state_file)
    assert handlers() == before


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGHUP, SystemExit)])
def test_signal_while_pinned_restores_before_the_exception_is_seen(clock, signum, raised, default_signals):
    # default_signals: as in a foreground run (started with `&`, Python keeps SIGINT ignored, and so do we)
    with pytest.raises(raised) as stop:
        with clock.pin(log=None):
            try:
                os.kill(os.getpid(), signum)
                time.sleep(5)   # the handler fires before this returns
            finally:
                restored_already = clock.now() == clock.original
    assert restored_already   # put back by the handler, before any code above the pin ran
    if raised is SystemExit:
        assert stop.value.code == 129
    assert not os.path.exists(clock.state_file)


def test_ignored_sighup_stays_ignored_while_pinned(clock):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with clock.pin(log=None):
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            assert clock.pinned()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert clock.now() == clock.original


# -- a leftover from a killed owner -----------------------------------------------------------------
HOLDER = """
import sys, time
from espnet_edge.jetson.clocks import pin_gpu
from espnet_edge.jetson.emc import pin_emc
with (pin_gpu if sys.argv[1] == "gpu" else pin_emc)(int(sys.argv[2])):
    print("pinned", flush=True)
    time.sleep(60)
"""


def kill_pinned_holder(clock):
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_SYSFS_ROOT=clock.paths["root"])
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, clock.name, str(clock.request)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    try:
        assert proc.stdout.readline().strip() == "pinned", proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert clock.pinned() and os.path.exists(clock.state_file)   # killed outright: nothing of ours ran
    return proc.pid


def test_leftover_of_a_killed_owner_is_put_back_first(clock):
    pid = kill_pinned_holder(clock)
    log = io.StringIO()
    with clock.pin(log=log) as pin:
        assert pin.took_over_stale and clock.pinned()
        saved = json.load(open(clock.state_file))
        assert saved["pid"] == os.getpid()
        # the original is what was saved again, not the dead run's pin
        assert clock_state.records_of(saved, clock.name) == pin.original
    assert clock.now() == clock.original and not os.path.exists(clock.state_file)
    text = log.getvalue()
    assert "{}: found {} left pinned by PID {} which is gone; restored ".format(
        clock.label, clock.owner_words, pid) in text, text


def test_clocks_restore_puts_back_what_a_killed_owner_left(clock):
    kill_pinned_holder(clock)
    saved = clock.put_back_saved()
    assert saved is not None and saved["pid"] != os.getpid()
    assert clock.now() == clock.original and not os.path.exists(clock.state_file)


def test_leftover_from_before_a_reboot_is_discarded_not_written(clock):
    kill_pinned_holder(clock)
    pinned_now = clock.now()
    with open(clock.paths["boot_id"], "w") as handle:
        handle.write("another-boot\n")
    log = io.StringIO()
    with clock.pin(log=log) as pin:
        assert not pin.took_over_stale
        # the kernel reset the clock at the reboot: what reads now is the original to put back
        assert clock_state.records_of(json.load(open(clock.state_file)), clock.name) == pin.original
    assert clock.now() == pinned_now
    assert "discarded a saved" in log.getvalue() and "before a reboot" in log.getvalue()


# -- failures --------------------------------------------------------------------------------------------
def test_a_restore_the_kernel_refuses_keeps_the_saved_state_for_clocks_restore(clock, capsys):
    refuse = []

    def hook(path, value):
        if refuse:
            raise OSError(5, "Input/output error")

    kernel, sim = writer(hook)
    with clock.pin(writer=sim):   # the default log: the pin's module logger
        refuse.append(True)
    errors = [line for line in capsys.readouterr().err.splitlines() if "error: " in line]
    assert errors == ["espnet-edge: error: {}: could not restore: the kernel rejected writing {} to {} "
                      "(Input/output error)".format(clock.label, *reversed(sim.journal[-1]))], errors
    assert clock.pinned() and os.path.exists(clock.state_file)   # kept: `clocks restore` can finish the job
    assert not os.path.exists(clock.lock_file()) or open(clock.lock_file()).read() == ""   # lock given up
    clock.put_back_saved()
    assert clock.now() == clock.original and not os.path.exists(clock.state_file)


def test_a_read_back_that_fails_restores_and_says_so(clock, monkeypatch):
    original_read_back = type(clock.pin()).read_back

    def refuse(pin):
        original_read_back(pin)
        raise UserError("the clock did not take it")

    monkeypatch.setattr(type(clock.pin()), "read_back", refuse)
    with pytest.raises(UserError) as error:
        with clock.pin(log=None):
            raise AssertionError("not reached")
    assert str(error.value) == "the clock did not take it; the previous clock settings were put back"
    assert clock.now() == clock.original and not os.path.exists(clock.state_file)


# -- messages: through the module loggers, so -q is honoured ----------------------------------------
@pytest.mark.parametrize("level, shown", [(logging.INFO, True), (logging.WARNING, False)])
def test_messages_go_through_logging(clock, capfd, level, shown):
    root = logging.getLogger("espnet_edge")
    before = root.level
    root.setLevel(level)   # what `-q` (WARNING) and the default (INFO) set
    try:
        with clock.pin():   # default log: the pin's module logger
            pass
    finally:
        root.setLevel(before)
    err = capfd.readouterr().err   # the file descriptor: a stream bound at import time writes there
    if shown:
        assert "espnet-edge: {}: pinned ".format(clock.label) in err, err
        assert "espnet-edge: {}: restored ".format(clock.label) in err, err
    else:   # -q: warnings only (the GPU's "requested 828 MHz, applied ..."), no note in any form
        assert all(line.startswith("espnet-edge: warning: ") for line in err.splitlines()), err


@pytest.mark.parametrize("quiet", [False, True])
def test_clocks_restore_memory_clock_note_honours_quiet(tree, quiet):
    """`clocks restore` finding a memory clock state from before a reboot says so as a note: through
    logging, so -q hides it (it used to be written to stderr whatever -q said)."""
    env = {"ESPNET_EDGE_SYSFS_ROOT": tree["root"]}
    assert run_cli("clocks", "set", "828", "-q", env=env).returncode == 0
    clock_state.write({"version": 1, "boot_id": "another-boot", "board": "tx2", "pid": 1, "persistent": False,
                       "emc": clock_state.emc_record("/r", "/l", EMC_HZ, 0)}, "emc")
    result = run_cli("clocks", "restore", *(["-q"] if quiet else []), env=env)
    assert result.returncode == 0, result.stderr
    assert "GPU clock restored" in result.stdout
    note = ("espnet-edge clocks: EMC clock: discarded a saved memory clock state from before a reboot or "
            "another board")
    assert result.stderr.splitlines() == ([] if quiet else [note])
    assert not os.path.exists(Clock("emc", tree).state_file)
