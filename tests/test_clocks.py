"""GPU clock pinning on simulated Jetson trees: snapping, write order, restore on every exit path, lock,
error paths, and `espnet-edge clocks`."""

import errno
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ROOT, run_cli, spawn, spawn_cli
from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clocks
from espnet_edge.jetson.clocks import SysfsWriter, parse_freq_list, pin_gpu, snap_to_table
from sim_jetson import SimKernel, make_board_tree, read_freqs

TX2_ORIGINAL = (114750000, 1300500000, "nvhost_podgov")


@pytest.fixture
def tx2(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    return make_board_tree(tmp_path, board="tx2", release="32.7.1", nvpmodel_mode=0)


def sim_writer(**kwargs):
    kernel = SimKernel(**kwargs)
    return kernel, SysfsWriter(hook=kernel)


# -- parsing and snapping ---------------------------------------------------------------------------
def test_parse_freq_list():
    assert parse_freq_list("824,1134") == [824, 1134]
    assert parse_freq_list(" 828 ") == [828]


@pytest.mark.parametrize("text, words", [("824,,x", "empty item"), ("824,x", "not a number"),
                                         ("0", "positive"), ("-5", "positive"), ("824,824", "twice"),
                                         ("", "empty"), ("824.5", "whole number")])
def test_parse_freq_list_rejects(text, words):
    with pytest.raises(UserError) as err:
        parse_freq_list(text)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("board, mhz, applied", [
    ("tx2", 824, 828750000), ("tx2", 1134, 1134750000), ("tx2", 114, 114750000), ("tx2", 1300, 1300500000),
    ("nano", 900, 921600000), ("nano", 77, 76800000), ("agx-xavier", 1377, 1377000000),
    ("xavier-nx", 1100, 1109250000)])
def test_snap_to_sourced_tables(board, mhz, applied):
    assert snap_to_table(mhz, boards.freq_table(boards.by_key(board))) == applied


@pytest.mark.parametrize("mhz", [1302, 50, 100000])
def test_snap_refuses_out_of_range_and_names_it(mhz):
    with pytest.raises(UserError) as err:
        snap_to_table(mhz, boards.TX2_TABLE_R32)
    assert "114.75 MHz..1300.5 MHz" in str(err.value)


def test_plan_keeps_min_le_max_for_every_pair():
    table = boards.TX2_TABLE_R32
    for lo in table:
        for hi in table:
            if lo > hi:
                continue
            for target_lo in table:
                for target_hi in table:
                    if target_lo > target_hi:
                        continue
                    state = {"min_freq": lo, "max_freq": hi}
                    for name, value in clocks.plan_minmax_writes(lo, hi, target_lo, target_hi):
                        state[name] = value
                        assert state["min_freq"] <= state["max_freq"]
                    assert (state["min_freq"], state["max_freq"]) == (target_lo, target_hi)


# -- pinning on simulated boards ----------------------------------------------------------------------
def test_pin_tx2_824_applies_828_75_and_restores(tx2):
    kernel, writer = sim_writer()
    log = io.StringIO()
    with pin_gpu(824, log=log, writer=writer) as pin:
        assert pin.requested_mhz == 824
        assert pin.applied_mhz == 828.75
        assert read_freqs(tx2) == (828750000, 828750000, "performance")
        assert pin.cur_mhz == 828.75
    assert read_freqs(tx2) == TX2_ORIGINAL
    assert "requested 824 MHz, applied 828.75 MHz" in log.getvalue()
    assert [w[0] for w in kernel.writes].count("governor") == 2


def test_write_order_going_down_then_up(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    paths = make_board_tree(tmp_path, board="tx2", min_hz=1300500000, max_hz=1300500000)
    kernel, writer = sim_writer()
    with pin_gpu(216, writer=writer, log=None):
        assert read_freqs(paths)[:2] == (216750000, 216750000)
    # down: min first; restore (up): max first. The sim kernel raised on any min > max.
    assert [(w[0], w[1]) for w in kernel.writes if w[0] != "governor"] == [
        ("min_freq", 216750000), ("max_freq", 216750000), ("max_freq", 1300500000), ("min_freq", 1300500000)]
    assert read_freqs(paths)[:2] == (1300500000, 1300500000)


def test_write_order_going_up(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    paths = make_board_tree(tmp_path, board="nano", min_hz=76800000, max_hz=76800000, governor="performance")
    kernel, writer = sim_writer()
    with pin_gpu(921, writer=writer, log=None) as pin:
        assert pin.applied_mhz == 921.6
    assert [(w[0], w[1]) for w in kernel.writes] == [
        ("max_freq", 921600000), ("min_freq", 921600000), ("min_freq", 76800000), ("max_freq", 76800000)]
    assert read_freqs(paths) == (76800000, 76800000, "performance")


def test_sim_kernel_really_rejects_min_above_max(tx2):
    with pytest.raises(OSError):
        SimKernel()(tx2["min_freq"], 1300500000 + 1)


def test_pin_xavier_and_orin(tmp_path, monkeypatch):
    for board, release, mhz, applied in (("agx-xavier", "32.7.1", 1200, 1198.5), ("agx-orin", "35.2.1", 600, 612.0)):
        root = tmp_path / board
        monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(root))
        paths = make_board_tree(root, board=board, release=release, nvpmodel_mode=0)
        before = read_freqs(paths)
        kernel, writer = sim_writer()
        with pin_gpu(mhz, writer=writer, log=None) as pin:
            assert pin.applied_mhz == applied
            assert read_freqs(paths)[0] == read_freqs(paths)[1] == int(applied * 1e6)
        assert read_freqs(paths) == before


def test_restore_on_exception(tx2):
    with pytest.raises(RuntimeError):
        with pin_gpu(520, log=None):
            assert read_freqs(tx2)[0] == 522750000
            raise RuntimeError("benchmark crashed")
    assert read_freqs(tx2) == TX2_ORIGINAL


def test_restore_on_sigint_in_process(tx2, default_signals):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with pin_gpu(1134, log=None):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)   # the handler fires before this returns
    assert read_freqs(tx2) == TX2_ORIGINAL
    assert signal.getsignal(signal.SIGINT) is before


def test_rail_gated_gpu_reads_zero_and_is_tolerated(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    make_board_tree(tmp_path, board="tx2", cur_mhz=0)
    log = io.StringIO()
    with pin_gpu(828, log=log) as pin:
        assert pin.rail_gated and pin.cur_mhz == 0
    assert "rail-gated" in log.getvalue()


def test_dry_run_writes_nothing(tx2):
    log = io.StringIO()
    with pin_gpu(828, dry_run=True, log=log) as pin:
        assert pin.applied_mhz == 828.75
        assert read_freqs(tx2) == TX2_ORIGINAL
    text = log.getvalue()
    assert "would write 828750000 > /sys/devices/17000000.gp10b/devfreq/17000000.gp10b/min_freq" in text
    assert "would write performance > " in text
    assert read_freqs(tx2) == TX2_ORIGINAL


# -- the lock -------------------------------------------------------------------------------------------
def test_second_holder_gets_one_line_error_with_pid(tx2):
    with pin_gpu(828, log=None):
        with pytest.raises(UserError) as err:
            with pin_gpu(520, log=None):
                pass
        message = str(err.value)
        assert "PID {}".format(os.getpid()) in message and "\n" not in message
        assert read_freqs(tx2)[:2] == (828750000, 828750000)   # the loser touched nothing
    assert read_freqs(tx2) == TX2_ORIGINAL
    with pin_gpu(520, log=None):   # released: the next run gets it
        pass


# -- error paths ----------------------------------------------------------------------------------------
def test_not_a_jetson(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    with pytest.raises(UserError) as err:
        with pin_gpu(828, log=None):
            pass
    assert str(err.value) == "not a Jetson (no GPU devfreq under /sys/class/devfreq): --freq needs a Jetson board"


def test_missing_devfreq_file(tx2):
    os.unlink(tx2["max_freq"])
    with pytest.raises(UserError) as err:
        with pin_gpu(828, log=None):
            pass
    assert "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b/max_freq is missing" in str(err.value)


def test_unreadable_devfreq_file(tx2):
    # as root chmod 000 does not stop reads: a directory in the file's place does
    os.unlink(tx2["available_frequencies"])
    os.mkdir(tx2["available_frequencies"])
    with pytest.raises(UserError) as err:
        with pin_gpu(828, log=None):
            pass
    assert "cannot read /sys/devices/17000000.gp10b/devfreq/17000000.gp10b/available_frequencies" in str(err.value)


def test_governor_refused_restores(tx2):
    kernel, writer = sim_writer(refuse_governor=True)
    with pytest.raises(UserError) as err:
        with pin_gpu(828, writer=writer, log=None):
            pass
    assert "rejected writing performance" in str(err.value) and "put back" in str(err.value)
    assert read_freqs(tx2) == TX2_ORIGINAL


def test_kernel_rejects_max_write_and_we_restore(tx2):
    kernel, writer = sim_writer(reject={"max_freq": errno.EIO})
    with pytest.raises(UserError) as err:
        with pin_gpu(520, writer=writer, log=None):
            pass
    message = str(err.value)
    assert "rejected writing 522750000 to /sys/devices/17000000.gp10b/devfreq/17000000.gp10b/max_freq" in message
    assert "put back" in message
    assert read_freqs(tx2) == TX2_ORIGINAL


def test_nvpmodel_cap_makes_frequency_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    paths = make_board_tree(tmp_path, board="tx2", nvpmodel_mode=1)   # MAXQ: GPU MAX_FREQ 850000000
    with pytest.raises(UserError) as err:
        with pin_gpu(1134, log=None):
            pass
    message = str(err.value)
    assert "mode 1 (MAXQ)" in message and "930.75 MHz" in message and "nvpmodel -m 0 (MAXN)" in message
    assert read_freqs(paths) == TX2_ORIGINAL
    with pin_gpu(828, log=None) as pin:   # below the cap is fine
        assert pin.applied_mhz == 828.75


def _without_root_file_override(argv):
    """As root, file modes are ignored; drop the capabilities that bypass them (setpriv) so a 0444 file is
    read-only for the child as it is for a normal user on a board. As a normal user nothing is needed."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"] + argv


def test_no_write_permission_says_how_to_grant_it():
    """Read-only (0444) devfreq files and a process without root's file-permission override."""
    top = tempfile.mkdtemp(prefix="espnet-edge-perm-")
    try:
        paths = make_board_tree(top, board="tx2")
        for folder, dirs, files in os.walk(top):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o444)
        for lock_dir in ("run/lock", "tmp"):
            os.makedirs(os.path.join(top, lock_dir))
            os.chmod(os.path.join(top, lock_dir), 0o1777)
        env = dict(os.environ, ESPNET_EDGE_SYSFS_ROOT=top, PYTHONPATH=ROOT)
        argv = _without_root_file_override([sys.executable, "-m", "espnet_edge", "clocks", "set", "828"])
        proc = subprocess.Popen(argv, cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, err
        assert "no write permission on /sys/devices/17000000.gp10b/devfreq/17000000.gp10b/" in err
        assert "sudo" in err and 'SUBSYSTEM=="devfreq", KERNEL=="17000000.gp10b"' in err
        assert len(err.strip().splitlines()) == 1
        assert read_freqs(paths) == TX2_ORIGINAL
    finally:
        subprocess.call(["rm", "-rf", top])


# -- signals delivered to a running subprocess ---------------------------------------------------------
HOLDER = """
import sys, time
from espnet_edge.jetson.clocks import pin_gpu
with pin_gpu(int(sys.argv[1])) as pin:
    print("pinned", pin.applied_mhz, flush=True)
    time.sleep(60)
"""


def _wait_pinned(paths, hz, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if read_freqs(paths)[:2] == (hz, hz):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the subprocess never pinned the clock")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_signal_to_running_holder_restores(tx2, signum, code):
    proc = spawn([sys.executable, "-c", HOLDER, "828"])
    try:
        _wait_pinned(tx2, 828750000, proc)
        assert read_freqs(tx2)[2] == "performance"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # an uncaught KeyboardInterrupt ends Python by re-raising SIGINT (-2); the CLI maps it to 130
    assert proc.returncode in ((code, -signal.SIGINT) if signum == signal.SIGINT else (code,))
    assert "restored min 114.75 MHz / max 1300.5 MHz / governor nvhost_podgov" in err
    assert read_freqs(tx2) == TX2_ORIGINAL


@pytest.mark.slow
def test_sigterm_to_bench_freq_subprocess_restores(tx2, small_onnx):
    proc = spawn_cli("bench", "--onnx", small_onnx, "--freq", "828", "--duration", "30")
    try:
        _wait_pinned(tx2, 828750000, proc, timeout=120)
        assert read_freqs(tx2)[2] == "performance"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, err
    assert read_freqs(tx2) == TX2_ORIGINAL, err


# -- espnet-edge clocks -----------------------------------------------------------------------------------
def _show(root, *extra):
    return run_cli("clocks", "show", *extra, env={"ESPNET_EDGE_SYSFS_ROOT": str(root)}, timeout=60)


def test_clocks_show_reads_simulated_tx2(tx2):
    result = _show(tx2["root"])
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(None, 1) if "  " not in line else [p.strip() for p in line.split("  ", 1)]
                for line in result.stdout.splitlines())
    assert rows["board"] == "Jetson TX2 [quill]"
    assert rows["release"] == "L4T 32.7.1 (JetPack 4.6.1)"
    assert rows["nvpmodel"] == "mode 0 (MAXN), no GPU cap"
    assert rows["min / max"] == "114.75 / 1300.5 MHz"
    assert rows["current"] == "1300.5 MHz"
    assert rows["steps (MHz)"].split() == ["{:g}".format(f / 1e6) for f in boards.TX2_TABLE_R32]
    assert rows["governor"].startswith("nvhost_podgov ")


def test_clocks_show_json_nano(tmp_path):
    make_board_tree(tmp_path, board="nano", release="32.7.3", nvpmodel_mode=1, cur_mhz=0)
    result = _show(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["board"], report["l4t"], report["jetpack"]) == ("nano", "32.7.3", "4.6.3")
    assert report["nvpmodel"]["name"] == "5W" and report["nvpmodel"]["gpu_cap_mhz"] == 691.2
    gpu = report["gpus"][0]
    assert gpu["devfreq"] == "/sys/devices/57000000.gpu/devfreq/57000000.gpu"
    assert gpu["cur_mhz"] == 0 and gpu["available_mhz"][-1] == 921.6


def test_clocks_show_not_a_jetson(tmp_path):
    result = _show(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("espnet-edge clocks: error: not a Jetson (no GPU devfreq under "
                                     "/sys/class/devfreq): clocks needs a Jetson board")


@pytest.mark.slow
def test_clocks_set_then_restore(tx2):
    env = {"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]}
    first = run_cli("clocks", "set", "824", env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "828.75" in first.stdout
    assert read_freqs(tx2) == (828750000, 828750000, "performance")
    second = run_cli("clocks", "set", "520", "--json", env=env, timeout=60)
    assert json.loads(second.stdout)["kept_earlier_saved_state"] is True
    assert read_freqs(tx2)[:2] == (522750000, 522750000)
    restored = run_cli("clocks", "restore", env=env, timeout=60)
    assert restored.returncode == 0, restored.stderr
    assert read_freqs(tx2) == TX2_ORIGINAL   # the original, not the first `set`
    again = run_cli("clocks", "restore", env=env, timeout=60)
    assert again.returncode == 2 and "nothing to restore" in again.stderr


def test_clocks_set_dry_run_and_bad_input(tx2):
    env = {"ESPNET_EDGE_SYSFS_ROOT": tx2["root"]}
    dry = run_cli("clocks", "set", "1134", "--dry-run", env=env, timeout=60)
    assert dry.returncode == 0 and "would write 1134750000 > " in dry.stderr
    assert read_freqs(tx2) == TX2_ORIGINAL
    assert not os.path.exists(os.path.join(tx2["root"], "var/tmp/espnet-edge-gpu-clock.json"))
    bad = run_cli("clocks", "set", "2000", env=env, timeout=60)
    assert bad.returncode == 2 and "outside this GPU's range 114.75 MHz..1300.5 MHz" in bad.stderr
    assert "Traceback" not in bad.stderr
