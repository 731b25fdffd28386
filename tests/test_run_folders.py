"""Run folders: a name is reserved atomically (collisions get -2, -3), --name is a name and not a path,
and an interrupted sweep never deletes a finished run, also when an earlier one left -incomplete.
A SIGKILLed profile/sweep (no Python cleanup runs) leaves a reservation whose owner is recognisably gone:
readers skip it with a note, the next run into the same --out cleans it; a live owner's is never touched."""

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TEGRASTATS_DIR, run_main, spawn
from espnet_edge.errors import UserError
from espnet_edge.profiler import run_folders
from espnet_edge.profiler.profile import new_run_dir, release_run_dir
from espnet_edge.profiler.sweep import load_runs
from espnet_edge.utils.atomic import publish_dir, staging_dir
from sim_jetson import make_board_tree

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")


def test_runs_reserving_the_same_name_get_suffixes(tmp_path):
    """Two profiles started in the same second compute the same default name: each must get its own."""
    first = new_run_dir(str(tmp_path), "espnet-c-q3-20260101-120000")
    second = new_run_dir(str(tmp_path), "espnet-c-q3-20260101-120000")
    third = new_run_dir(str(tmp_path), "espnet-c-q3-20260101-120000")
    assert [os.path.basename(p) for p in (first, second, third)] == [
        "espnet-c-q3-20260101-120000", "espnet-c-q3-20260101-120000-2", "espnet-c-q3-20260101-120000-3"]
    # the first run finishing does not disturb the others, and a filled folder is never replaced
    tmp = staging_dir(first)
    open(os.path.join(tmp, "summary.json"), "w").write("{}\n")
    publish_dir(tmp, first)
    assert os.listdir(first) == ["summary.json"]
    tmp = staging_dir(first)
    with pytest.raises(UserError, match="never overwritten"):
        publish_dir(tmp, first)
    release_run_dir(third)
    assert not os.path.exists(third)
    release_run_dir(first)   # only an empty reservation is removed
    assert os.path.isdir(first)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "/tmp/abs", ""])
def test_name_is_a_name_not_a_path(tmp_path, name):
    out = tmp_path / "profiles"
    result = run_main("profile", "--model", "espnet-c-q3", "--out", out, "--name", name, "--duration", "1",
                      env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "empty")})
    assert result.returncode == 2, result.stderr
    assert "--name" in result.stderr and "not a path" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "a").exists()


def _interrupted_sweep(onnx, out, board, sig=signal.SIGINT):
    """Start a sweep at two clocks; Ctrl-C (or ``sig``) it once the first run is finished."""
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_SYSFS_ROOT=board["root"],
               ESPNET_EDGE_TEGRASTATS=REPLAY, REPLAY_TEGRASTATS_FILE=TX2_LOG)
    argv = [sys.executable, "-m", "espnet_edge", "sweep", "--onnx", onnx, "--freqs", "828,520", "--out", out,
            "--idle", "0.5", "--duration", "3", "--warmup", "1", "--settle-timeout", "0.5"]
    proc = spawn(argv, env=env)
    parent, name = os.path.split(out)
    deadline = time.time() + 180
    try:
        while time.time() < deadline and proc.poll() is None:
            staged = [d for d in os.listdir(parent) if d.startswith("." + name + ".") and d.endswith(".tmp")]
            if staged and os.path.isdir(os.path.join(parent, staged[0], "runs")) and any(
                    os.path.exists(os.path.join(parent, staged[0], "runs", r, "summary.json"))
                    for r in os.listdir(os.path.join(parent, staged[0], "runs")) if not r.startswith(".")):
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


@pytest.mark.slow
def test_interrupted_sweeps_never_delete_a_finished_run(small_onnx, tmp_path):
    board = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0)
    out = str(tmp_path / "sweeps" / "tx2")
    os.makedirs(os.path.dirname(out))
    for expected in ("tx2-incomplete", "tx2-incomplete-2"):
        code, err = _interrupted_sweep(small_onnx, out, board)
        assert code != 0, err
        kept = os.path.join(os.path.dirname(out), expected)
        assert os.path.isdir(kept), (os.listdir(os.path.dirname(out)), err)
        assert "finished run(s) are in {}".format(kept) in err
        runs = os.listdir(os.path.join(kept, "runs"))
        assert runs == ["espnet-c-q3-256x128-828MHz"], (err, [(r, os.listdir(os.path.join(kept, "runs", r))) for r in runs])
        assert os.path.exists(os.path.join(kept, "runs", runs[0], "summary.json"))
    assert not os.path.exists(out)   # the reserved folder of a stopped sweep is given back
    assert sorted(os.listdir(os.path.dirname(out))) == ["tx2-incomplete", "tx2-incomplete-2"]


def _board_env(board):
    return {"ESPNET_EDGE_SYSFS_ROOT": board["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
            "REPLAY_TEGRASTATS_FILE": TX2_LOG}


def _start_profile(onnx, out, name, board):
    """A real `espnet-edge profile` on the simulated TX2, in a long idle phase (it never finishes alone)."""
    env = dict(os.environ, PYTHONPATH=ROOT, **_board_env(board))
    argv = [sys.executable, "-m", "espnet_edge", "profile", "--onnx", onnx, "--out", out, "--name", name,
            "--idle", "600", "--duration", "2", "--warmup", "1"]
    return spawn(argv, env=env)


def _wait_reserved(proc, target, timeout=180):
    """Wait (generously, on any CPU) until the run has reserved ``target`` and written its owner marker."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        owner = run_folders.read_owner(target)
        if os.path.isdir(target) and owner is not None and owner.get("pid") == proc.pid:
            return owner
        time.sleep(0.05)
    proc.kill()
    _out, err = proc.communicate()
    pytest.fail("the profile never reserved {} (exit {}): {}".format(target, proc.returncode, err))


class _Lines(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _log_lines():
    handler = _Lines()
    logger = logging.getLogger("espnet_edge")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


@pytest.mark.slow
def test_a_live_owners_reservation_is_never_removed(small_onnx, tmp_path):
    board = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0)
    out = str(tmp_path / "profiles")
    target = os.path.join(out, "live")
    proc = _start_profile(small_onnx, out, "live", board)
    try:
        owner = _wait_reserved(proc, target)
        assert not run_folders.owner_gone(owner)
        # the next run into the same --out, and a clean-up, leave it alone; the name is taken
        with _log_lines() as lines:
            assert run_folders.clean_stale(out) == []
            other = new_run_dir(out, "live")
        assert os.path.basename(other) == "live-2"
        assert not [l for l in lines if "cleaned up" in l], lines
        release_run_dir(other)
        with pytest.raises(UserError, match="live"):
            new_run_dir(out, "live", exact=True)
        # a reader skips it, saying it is still being written (not that it was interrupted)
        with _log_lines() as lines:
            with pytest.raises(UserError, match="no profile runs"):
                load_runs([out])
        assert lines == ["skipping {}: a run still being written (PID {} on {})".format(
            target, proc.pid, owner["host"])], lines
        assert os.path.isdir(target) and run_folders.read_owner(target) == owner
    finally:
        proc.terminate()   # SIGTERM: Python runs, and gives the reservation and its marker back
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert not os.path.exists(out), err   # the reservation given back, and the --out this run made removed


@pytest.mark.slow
def test_a_sigkilled_profile_is_recognised_skipped_and_cleaned(small_onnx, tmp_path):
    board = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0)
    out = str(tmp_path / "profiles")
    fast = ["--idle", "1", "--duration", "2", "--warmup", "1"]
    done = run_main("profile", "--onnx", small_onnx, "--out", out, "--name", "done", *fast, env=_board_env(board))
    assert done.returncode == 0, done.stderr
    done_files = sorted(os.listdir(os.path.join(out, "done")))

    target = os.path.join(out, "killed")
    proc = _start_profile(small_onnx, out, "killed", board)
    try:
        _wait_reserved(proc, target)
    finally:
        proc.kill()
        proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    # what write_run leaves when killed while writing: a staging folder with some of the files
    half = staging_dir(target)
    with open(os.path.join(half, "summary.json"), "w") as handle:
        handle.write('{"performance": ')

    # recognised: the owner marker is still there and names a process that is gone
    assert os.listdir(target) == []
    owner = run_folders.read_owner(target)
    assert owner["pid"] == proc.pid and run_folders.owner_gone(owner)

    # readers skip it with a one-line note and read the finished run
    report_dir = str(tmp_path / "report")
    report = run_main("report", out, "--out", report_dir)
    assert report.returncode == 0, report.stderr
    note = "skipping {}: an empty run folder from an interrupted run (killed before it was written)".format(target)
    assert note in report.stderr.splitlines()[0] and report.stderr.count("skipping") == 1, report.stderr
    assert "1 runs" in report.stdout, report.stdout
    assert os.path.isdir(target)   # reading never cleans

    # the next run into the same --out cleans up (one line) and may take the name again
    again = run_main("profile", "--onnx", small_onnx, "--out", out, "--name", "killed", *fast, env=_board_env(board))
    assert again.returncode == 0, again.stderr
    cleaned = [l for l in again.stderr.splitlines() if "cleaned up" in l]
    assert cleaned == ["espnet-edge profile: cleaned up after interrupted run(s) in {}: killed (empty folder "
                       "removed, staging folder {} removed)".format(out, os.path.basename(half))], again.stderr
    assert sorted(os.listdir(out)) == ["done", "killed"]   # no marker, no staging folder left
    assert os.path.isfile(os.path.join(target, "summary.json"))
    assert sorted(os.listdir(os.path.join(out, "done"))) == done_files
    assert len(load_runs([out])) == 2


@pytest.mark.slow
def test_a_sigkilled_sweep_keeps_its_finished_runs(small_onnx, tmp_path):
    board = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0)
    out = str(tmp_path / "sweeps" / "tx2")
    parent = os.path.dirname(out)
    os.makedirs(parent)
    code, err = _interrupted_sweep(small_onnx, out, board, sig=signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    staged = [d for d in os.listdir(parent) if d.endswith(".tmp")]
    assert os.listdir(out) == [] and len(staged) == 1 and ".tx2.owner" in os.listdir(parent)

    with _log_lines() as lines:
        cleaned = run_folders.clean_stale(parent)
    assert len(cleaned) == 1 and cleaned[0].startswith("tx2 (empty folder removed, its finished runs kept in "
                                                       "tx2-incomplete"), cleaned
    assert lines == ["cleaned up after interrupted run(s) in {}: {}".format(parent, cleaned[0])], lines
    assert sorted(os.listdir(parent)) == ["tx2-incomplete"]
    runs = os.path.join(parent, "tx2-incomplete", "runs")
    # the second run's reservation inside the sweep was the same dead owner's: gone too
    assert sorted(os.listdir(runs)) == ["espnet-c-q3-256x128-828MHz"]
    with _log_lines() as lines:
        loaded = load_runs([runs])
    assert [r.run for r in loaded] == ["espnet-c-q3-256x128-828MHz"] and lines == []


DIES_AFTER = r"""
import os, sys
from espnet_edge.profiler import run_folders
from espnet_edge.utils.atomic import publish_dir, staging_dir
target = run_folders.new_run_dir(sys.argv[1], sys.argv[2])
if sys.argv[3] == "published":   # killed between the rename and the marker's removal
    tmp = staging_dir(target)
    open(os.path.join(tmp, "summary.json"), "w").write("{}")
    publish_dir(tmp, target)
os._exit(9)   # like a SIGKILL: no Python clean-up runs
"""


def _dead_owner(out, name, stage):
    proc = subprocess.run([sys.executable, "-c", DIES_AFTER, out, name, stage], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 9, proc.stderr
    return os.path.join(out, name)


def test_clean_up_never_touches_a_filled_folder_or_what_it_cannot_judge(tmp_path):
    out = str(tmp_path / "profiles")
    foreign = _dead_owner(out, "foreign", "reserved")
    with open(run_folders.marker_path(foreign)) as handle:
        record = json.load(handle)
    record["host"] = "another-board"   # a --out shared with another machine: its PIDs are not ours to test
    with open(run_folders.marker_path(foreign), "w") as handle:
        json.dump(record, handle)
    legacy = os.path.join(out, "legacy")
    os.mkdir(legacy)   # an empty folder without a marker (a kill before the marker, or an older version)
    filled = _dead_owner(out, "filled", "published")   # its reservation cleans up: nothing here is stale
    with _log_lines() as lines:
        assert run_folders.clean_stale(out) == ["filled (owner marker removed)"]
    assert lines == ["cleaned up after interrupted run(s) in {}: filled (owner marker removed)".format(out)]
    assert sorted(os.listdir(out)) == [".foreign.owner", "filled", "foreign", "legacy"]
    assert os.listdir(filled) == ["summary.json"]
    assert "interrupted run" in run_folders.interrupted_note(legacy)
    assert run_folders.interrupted_note(filled) is None
