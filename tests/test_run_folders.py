"""Run folders: a name is reserved atomically (collisions get -2, -3), --name is a name and not a path,
and an interrupted sweep never deletes a finished run, also when an earlier one left -incomplete."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TEGRASTATS_DIR, run_cli
from espnet_edge.errors import UserError
from espnet_edge.profiler.profile import new_run_dir, release_run_dir
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
    result = run_cli("profile", "--model", "espnet-c-q3", "--out", out, "--name", name, "--duration", "1",
                     env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "empty")})
    assert result.returncode == 2, result.stderr
    assert "--name" in result.stderr and "not a path" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "a").exists()


def _interrupted_sweep(onnx, out, board):
    """Start a sweep at two clocks; Ctrl-C it once the first run is finished."""
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_SYSFS_ROOT=board["root"],
               ESPNET_EDGE_TEGRASTATS=REPLAY, REPLAY_TEGRASTATS_FILE=TX2_LOG)
    argv = [sys.executable, "-m", "espnet_edge", "sweep", "--onnx", onnx, "--freqs", "828,520", "--out", out,
            "--idle", "0.5", "--duration", "3", "--warmup", "1"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    parent, name = os.path.split(out)
    deadline = time.time() + 180
    try:
        while time.time() < deadline and proc.poll() is None:
            staged = [d for d in os.listdir(parent) if d.startswith("." + name + ".")]
            if staged and os.path.isdir(os.path.join(parent, staged[0], "runs")) and any(
                    os.path.exists(os.path.join(parent, staged[0], "runs", r, "summary.json"))
                    for r in os.listdir(os.path.join(parent, staged[0], "runs")) if not r.startswith(".")):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
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
        assert runs == ["espnet-c-q3-256x128-828MHz"]
        assert os.path.exists(os.path.join(kept, "runs", runs[0], "summary.json"))
    assert not os.path.exists(out)   # the reserved folder of a stopped sweep is given back
    assert sorted(os.listdir(os.path.dirname(out))) == ["tx2-incomplete", "tx2-incomplete-2"]
