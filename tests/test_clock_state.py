"""The GPU clock always comes back: the original state is on disk before the first sysfs write, so
`clocks restore` undoes a pin whose process was SIGKILLed; a new pin restores a leftover first; signals
wait for a write sequence to end; an ignored SIGHUP stays ignored. Real subprocesses (our CLI) on a
simulated TX2, killed at random points."""

import io
import json
import os
import random
import signal
import sys
import time

import pytest

from conftest import ROOT, TEGRASTATS_DIR, run_cli, run_main, spawn
from espnet_edge.jetson import clock_state
from espnet_edge.jetson.clocks import SysfsWriter, pin_gpu
from espnet_edge.utils import signals
from sim_jetson import SimKernel, make_board_tree
from sim_jetson import read_freqs as read_freqs_once

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")
TX2_ORIGINAL = (114750000, 1300500000, "nvhost_podgov")
# Both devfreq kernel generations of the simulated TX2 layout: L4T 32 (kernel 4.9, min/max writes are
# the range) and L4T 35 (kernel 5.10, writes are PM-QoS requests; boards.kernel_generation). A real TX2
# stops at L4T 32; the 5.10 tree stands for the Xavier/Orin boards that run it, with the TX2's table.
KERNEL_RELEASES = ["32.7.1", "35.2.1"]

HOLDER = """
import sys, time
from espnet_edge.jetson.clocks import pin_gpu
with pin_gpu(int(sys.argv[1])) as pin:
    print("pinned", pin.applied_mhz, flush=True)
    time.sleep(60)
"""


def read_freqs(paths):
    """read_freqs that tolerates catching a simulated file between a writer's O_TRUNC and its write()
    (a plain file, unlike a sysfs attribute, can be read empty in between)."""
    for _ in range(1000):
        try:
            return read_freqs_once(paths)
        except ValueError:
            time.sleep(0.001)
    return read_freqs_once(paths)


@pytest.fixture(params=KERNEL_RELEASES)
def tx2(request, tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    return make_board_tree(tmp_path, board="tx2", release=request.param, nvpmodel_mode=0)


def state_file(paths):
    return os.path.join(paths["root"], clock_state.STATE_PATH.lstrip("/"))


def _env(paths, **extra):
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_SYSFS_ROOT=paths["root"])
    env.update(extra)
    return env


def _start(argv, paths, preexec_fn=None, **extra):
    return spawn(argv, env=_env(paths, **extra), preexec_fn=preexec_fn)


def _wait_for(condition, proc, timeout=120):
    """True once ``condition()`` holds; False when the process ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError("timed out")


def _kill_pinned_holder(paths, hz=828750000):
    proc = _start([sys.executable, "-c", HOLDER, str(hz // 1000000)], paths)
    try:
        assert _wait_for(lambda: read_freqs(paths)[:2] == (hz, hz), proc), proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.pid


# -- SIGKILL: nothing of ours runs, the state file is what is left ------------------------------------
@pytest.mark.slow
def test_sigkill_while_pinned_then_clocks_restore(tx2):
    pid = _kill_pinned_holder(tx2)
    assert read_freqs(tx2) == (828750000, 828750000, "performance")   # killed outright: still pinned
    saved = json.load(open(state_file(tx2)))
    assert saved["pid"] == pid and saved["persistent"] is False and saved["board"] == "tx2"
    assert saved["boot_id"] == "6f1c7d2e-sim-boot"
    assert [(g["min_freq"], g["max_freq"], g["governor"]) for g in saved["gpus"]] == [TX2_ORIGINAL]

    show = run_main("clocks", "show", env={"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]})
    assert show.returncode == 0, show.stderr
    assert "left pinned by PID {} which is gone".format(pid) in show.stdout
    shown = json.loads(run_main("clocks", "show", "--json", env={"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]}).stdout)
    assert shown["pin"]["owner"] == "gone" and shown["pin"]["pid"] == pid

    restored = run_main("clocks", "restore", env={"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]})
    assert restored.returncode == 0, restored.stderr
    assert read_freqs(tx2) == TX2_ORIGINAL
    assert not os.path.exists(state_file(tx2))


def test_new_pin_restores_a_leftover_first_and_says_so(tx2):
    pid = _kill_pinned_holder(tx2)
    log = io.StringIO()
    with pin_gpu(520, log=log) as pin:
        assert pin.took_over_stale
        assert read_freqs(tx2) == (522750000, 522750000, "performance")
    # the original comes back, not the dead run's 828.75 MHz pin
    assert read_freqs(tx2) == TX2_ORIGINAL
    assert "pinned by PID {} which is gone; restored min 114.75 MHz / max 1300.5 MHz".format(pid) in log.getvalue()
    assert not os.path.exists(state_file(tx2))


def test_state_is_on_disk_before_the_first_write(tx2):
    seen = []

    def hook(path, value):
        seen.append(os.path.exists(state_file(tx2)))
        SimKernel()(path, value)

    with pin_gpu(828, log=None, writer=SysfsWriter(hook=hook)):
        assert json.load(open(state_file(tx2)))["pid"] == os.getpid()
    assert seen and seen[:3] == [True, True, True]
    assert not os.path.exists(state_file(tx2))   # a clean end leaves nothing behind


@pytest.mark.slow
def test_run_on_top_of_clocks_set_and_killed(tx2):
    env = {"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]}
    assert run_cli("clocks", "set", "1134", env=env).returncode == 0
    _kill_pinned_holder(tx2)
    saved = json.load(open(state_file(tx2)))
    assert saved["persistent"] is True and saved["run"]["gpus"][0]["max_freq"] == 1134750000
    with pin_gpu(520, log=None):   # puts the `clocks set` pin back first, then pins
        pass
    assert read_freqs(tx2)[:2] == (1134750000, 1134750000)
    assert "run" not in json.load(open(state_file(tx2)))
    assert run_cli("clocks", "restore", env=env).returncode == 0
    assert read_freqs(tx2) == TX2_ORIGINAL


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "not a JSON object"), ("{}", "gpus is not a non-empty list"), ("{not json", "not valid JSON"),
    ('{"gpus": [{"devfreq": "/x", "min_freq": "114", "max_freq": 1}]}', "min_freq is not a positive"),
    ('{"gpus": [{"devfreq": "/x", "min_freq": 5, "max_freq": 1}]}', "min_freq is above max_freq")])
def test_bad_state_file_is_one_line(tx2, text, words):
    os.makedirs(os.path.dirname(state_file(tx2)), exist_ok=True)
    with open(state_file(tx2), "w") as handle:
        handle.write(text)
    for action in ("restore", "show"):
        result = run_main("clocks", action, env={"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]})
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_state_from_another_boot_is_discarded(tx2):
    _kill_pinned_holder(tx2)
    with open(tx2["boot_id"], "w") as handle:
        handle.write("another-boot\n")
    result = run_main("clocks", "restore", env={"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]})
    assert result.returncode == 2 and "before a reboot" in result.stderr
    assert not os.path.exists(state_file(tx2))


# -- signals during a write sequence ----------------------------------------------------------------
def test_signal_during_the_pin_writes_waits_for_them(tx2, default_signals):
    kernel = SimKernel()

    def hook(path, value):
        if not kernel.writes:
            os.kill(os.getpid(), signal.SIGTERM)   # arrives while the first pin write is under way
        kernel(path, value)

    with pytest.raises(SystemExit) as stop:
        with pin_gpu(828, log=None, writer=SysfsWriter(hook=hook)):
            raise AssertionError("the body must not run after a SIGTERM during pinning")
    assert stop.value.code == 143
    names = [w[0] for w in kernel.writes]
    # the whole pin sequence (governor, min, max), then the restore (min, max, governor)
    assert names == ["governor", "min_freq", "max_freq", "min_freq", "max_freq", "governor"]
    assert read_freqs(tx2) == TX2_ORIGINAL
    assert not os.path.exists(state_file(tx2))


def test_each_sysfs_write_is_one_unbuffered_write(tx2, monkeypatch):
    calls = []
    real_write = os.write

    def counting_write(fd, data):
        calls.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    SysfsWriter().write(tx2["min_freq"], 522750000)
    assert calls == [b"522750000"]
    assert read_freqs(tx2)[0] == 522750000


def test_ignored_sighup_stays_ignored_in_the_shared_helpers():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        restore = signals.termination_as_interrupt()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signals._raise_interrupt
        restore()
        restore = signals.StopFlag().install()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        restore()
    finally:
        signal.signal(signal.SIGHUP, before)


def _ignore_sighup():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


@pytest.mark.slow
def test_nohup_pin_survives_sighup(tx2):
    """As under `nohup`: SIGHUP ignored when we start, so it must not end the run."""
    proc = _start([sys.executable, "-c", HOLDER, "828"], tx2, preexec_fn=_ignore_sighup)
    try:
        assert _wait_for(lambda: read_freqs(tx2)[:2] == (828750000, 828750000), proc), proc.communicate()
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None
        assert read_freqs(tx2)[:2] == (828750000, 828750000)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    assert read_freqs(tx2) == TX2_ORIGINAL


# -- random kill points of the real commands ---------------------------------------------------------
@pytest.mark.slow
def test_nohup_bench_freq_survives_sighup(tx2, small_onnx):
    """`nohup espnet-edge bench --freq ...`: the SIGHUP of a closed SSH session must not end it."""
    argv = [sys.executable, "-m", "espnet_edge", "bench", "--onnx", small_onnx, "--freq", "828", "--duration", "30"]
    proc = _start(argv, tx2, preexec_fn=_ignore_sighup)
    try:
        assert _wait_for(lambda: read_freqs(tx2)[:2] == (828750000, 828750000), proc), proc.communicate()
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        assert read_freqs(tx2)[:2] == (828750000, 828750000)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert read_freqs(tx2) == TX2_ORIGINAL


def _commands(onnx, out):
    fast = ["--idle", "0.5", "--duration", "3", "--warmup", "1"]
    return {
        "clocks set": ["clocks", "set", "828"],
        "bench": ["bench", "--onnx", onnx, "--freq", "828,520", "--duration", "2", "--warmup", "1",
                  "--settle-timeout", "1"],
        "profile": ["profile", "--onnx", onnx, "--freq", "828", "--out", out, "--settle-timeout", "1"] + fast,
        "sweep": ["sweep", "--onnx", onnx, "--freqs", "828,520", "--out", out, "--settle-timeout", "1"] + fast,
    }


SIGNALS = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


COMMANDS = ["clocks set", "bench", "profile", "sweep"]


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_random_kill_points_always_end_with_the_original_clock(command, small_onnx, tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for trial, signum in enumerate(SIGNALS):
        root = tmp_path / "t{}".format(trial)
        # every (signal, kernel) pair is covered across the four commands
        release = KERNEL_RELEASES[(trial + COMMANDS.index(command)) % len(KERNEL_RELEASES)]
        paths = make_board_tree(root, board="tx2", release=release, nvpmodel_mode=0)
        argv = [sys.executable, "-m", "espnet_edge"] + _commands(small_onnx, str(root / "out"))[command]
        proc = _start(argv, paths, ESPNET_EDGE_TEGRASTATS=REPLAY, REPLAY_TEGRASTATS_FILE=TX2_LOG)
        where = rng.choice(["state saved", "first write", "pinned", "later"])
        if where == "state saved":
            _wait_for(lambda: os.path.exists(state_file(paths)), proc)
        elif where == "first write":
            _wait_for(lambda: read_freqs(paths) != TX2_ORIGINAL, proc)
        elif where == "pinned":
            _wait_for(lambda: read_freqs(paths)[0] == read_freqs(paths)[1], proc)
        elif _wait_for(lambda: read_freqs(paths) != TX2_ORIGINAL, proc):
            time.sleep(rng.uniform(0.0, 2.0))
        if proc.poll() is None:
            proc.send_signal(signum)
        _out, err = proc.communicate(timeout=120)
        context = "seed {} trial {} {} {} L4T {} at {!r}: {}".format(seed, trial, command, signum, release, where,
                                                                   err[-2000:])
        assert "Traceback" not in err, context
        if command != "clocks set":
            assert proc.returncode != 0, context   # every command here outlives its kill point
        if signum == signal.SIGKILL or command == "clocks set":
            if os.path.exists(state_file(paths)):
                restored = run_cli("clocks", "restore", env={"ESPNET_EDGE_SYSFS_ROOT": paths["root"]})
                assert restored.returncode == 0, context + restored.stderr
        assert read_freqs(paths) == TX2_ORIGINAL, context
        assert not os.path.exists(state_file(paths)), context


# -- the memory clock (`profile --emc`): the same saved state, its own file --------------------------
EMC_ORIGINAL = ("1866000000", "0")   # rate (Hz), lock
FAST = ["--idle", "0.5", "--duration", "1", "--warmup", "1"]


@pytest.fixture
def tx2_emc(tmp_path, monkeypatch):
    """A TX2 whose BPMP debugfs memory clock can be pinned (boards.EMC_BY_SOC tegra186)."""
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    return make_board_tree(tmp_path, board="tx2", release="32.7.1", nvpmodel_mode=0, emc_hz=1866000000)


def emc_now(paths):
    return tuple(open(paths[key]).read().strip() for key in ("emc_rate", "emc_lock"))


def emc_state_file(paths):
    return os.path.join(paths["root"], clock_state.EMC_STATE_PATH.lstrip("/"))


def _emc_env(paths):
    return {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
            "REPLAY_TEGRASTATS_FILE": TX2_LOG}


def _kill_profile_with_emc(paths, onnx, extra=()):
    """`profile --emc 665` SIGKILLed once the memory clock is pinned (during its idle baseline)."""
    argv = [sys.executable, "-m", "espnet_edge", "profile", "--onnx", onnx, "--emc", "665",
            "--out", os.path.join(paths["root"], "out"), "--idle", "60"] + list(extra)
    proc = _start(argv, paths, ESPNET_EDGE_TEGRASTATS=REPLAY, REPLAY_TEGRASTATS_FILE=TX2_LOG)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "EMC clock: pinned" in line:
                break
        assert proc.poll() is None, "".join(seen)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


@pytest.mark.slow
@pytest.mark.parametrize("freq", [None, "828"])
def test_sigkill_during_profile_emc_then_clocks_restore(tx2_emc, small_onnx, freq):
    pid = _kill_profile_with_emc(tx2_emc, small_onnx, ["--freq", freq] if freq else [])
    assert emc_now(tx2_emc) == ("665600000", "1")   # killed outright: still pinned
    saved = json.load(open(emc_state_file(tx2_emc)))
    assert saved["pid"] == pid and saved["board"] == "tx2" and saved["boot_id"] == "6f1c7d2e-sim-boot"
    assert (saved["emc"]["rate_hz"], saved["emc"]["locked"]) == (1866000000, 0)
    if freq:
        assert read_freqs(tx2_emc)[:2] == (828750000, 828750000)

    restored = run_cli("clocks", "restore", env={"ESPNET_EDGE_SYSFS_ROOT": tx2_emc["root"]})
    assert restored.returncode == 0, restored.stderr
    assert "EMC clock restored: 1866000000 Hz (lock 0)" in restored.stdout
    assert ("GPU clock restored" in restored.stdout) == bool(freq)
    assert emc_now(tx2_emc) == EMC_ORIGINAL
    assert read_freqs(tx2_emc) == TX2_ORIGINAL
    assert not os.path.exists(emc_state_file(tx2_emc)) and not os.path.exists(state_file(tx2_emc))
    again = run_cli("clocks", "restore", env={"ESPNET_EDGE_SYSFS_ROOT": tx2_emc["root"]})
    assert again.returncode == 2 and "nothing to restore" in again.stderr


@pytest.mark.slow
def test_clocks_show_names_a_stale_emc_pin(tx2_emc, small_onnx):
    env = {"ESPNET_EDGE_SYSFS_ROOT": tx2_emc["root"]}
    clean = json.loads(run_cli("clocks", "show", "--json", env=env).stdout)
    assert clean["emc_pin"] is None
    pid = _kill_profile_with_emc(tx2_emc, small_onnx)
    show = run_cli("clocks", "show", env=env)
    assert show.returncode == 0, show.stderr
    line = [l for l in show.stdout.splitlines() if l.startswith("emc pinned")]
    assert line and "left pinned by PID {} which is gone".format(pid) in line[0] and "1866000000 Hz" in line[0]
    shown = json.loads(run_cli("clocks", "show", "--json", env=env).stdout)
    assert shown["emc_pin"]["owner"] == "gone" and shown["emc_pin"]["pid"] == pid
    assert shown["emc_pin"]["original"]["rate_hz"] == 1866000000
    assert shown["pin"] is None   # the GPU clock was not pinned


@pytest.mark.slow
def test_second_profile_emc_restores_the_leftover_first(tx2_emc, small_onnx):
    pid = _kill_profile_with_emc(tx2_emc, small_onnx)
    second = run_cli("profile", "--onnx", small_onnx, "--emc", "204", "--out", os.path.join(tx2_emc["root"], "out2"),
                     *FAST, env=_emc_env(tx2_emc))
    assert second.returncode == 0, second.stderr
    assert ("found the memory clock left pinned by PID {} which is gone; restored 1866000000 Hz first".format(pid)
            in second.stderr)
    assert "EMC clock: pinned 204 MHz" in second.stderr
    # the original comes back, not the dead run's 665.6 MHz pin
    assert emc_now(tx2_emc) == EMC_ORIGINAL
    assert not os.path.exists(emc_state_file(tx2_emc))


def test_emc_state_is_on_disk_before_the_first_write(tx2_emc):
    from espnet_edge.jetson.emc import pin_emc

    seen = []

    def hook(path, value):
        seen.append(os.path.exists(emc_state_file(tx2_emc)))

    with pin_emc(665, log=None, writer=SysfsWriter(hook=hook)):
        assert json.load(open(emc_state_file(tx2_emc)))["pid"] == os.getpid()
        assert emc_now(tx2_emc) == ("665600000", "1")
    assert seen == [True] * 4   # lock, rate; rate, lock back
    assert emc_now(tx2_emc) == EMC_ORIGINAL
    assert not os.path.exists(emc_state_file(tx2_emc))   # a clean end leaves nothing behind


@pytest.mark.parametrize("text, words", [
    ('{"emc": 3}', "emc is not an object"), ("{not json", "not valid JSON"),
    ('{"emc": {"rate": "/r", "lock": "/l", "rate_hz": -1, "locked": 0}}', "rate_hz is not a positive"),
    ('{"emc": {"rate": "/r", "lock": "/l", "rate_hz": 1, "locked": 2}}', "locked is not 0 or 1")])
def test_bad_emc_state_file_is_one_line(tx2_emc, text, words):
    os.makedirs(os.path.dirname(emc_state_file(tx2_emc)), exist_ok=True)
    with open(emc_state_file(tx2_emc), "w") as handle:
        handle.write(text)
    for action in ("restore", "show"):
        result = run_main("clocks", action, env={"ESPNET_EDGE_SYSFS_ROOT": tx2_emc["root"]})
        assert result.returncode == 2, result.stderr
        assert "not a saved EMC clock state" in result.stderr and words in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert emc_now(tx2_emc) == EMC_ORIGINAL   # nothing written on a file we cannot trust
