"""Disk full: every command that writes says so on one line, exits non-zero and leaves nothing under a
final name (nor a temporary file). The full disk is a real one: a tiny tmpfs filled to the last block,
mounted in a private mount namespace (`unshare -m`, needs root) so nothing outside the test sees it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import PHOTOS, ROOT
from sim_jetson import make_board_tree, read_freqs

DRIVER = r"""
import errno, json, os, subprocess, sys
mount_dir, listing, pre_dirs, argv, env_json = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount_dir])
for folder in pre_dirs:
    os.makedirs(os.path.join(mount_dir, folder))
fd = os.open(os.path.join(mount_dir, ".filler"), os.O_WRONLY | os.O_CREAT)   # take every free block
try:
    while True:
        os.write(fd, b"\0" * 4096)
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
os.close(fd)
env = dict(os.environ, **json.loads(env_json))
proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env)
files = []
for folder, dirs, names in os.walk(mount_dir):
    for name in names + dirs:
        rel = os.path.relpath(os.path.join(folder, name), mount_dir)
        if rel != ".filler" and rel not in pre_dirs:
            files.append([rel, os.path.getsize(os.path.join(folder, name))])
with open(listing, "w") as handle:
    json.dump({"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "files": files}, handle)
"""


def _namespaces_work():
    if os.geteuid() != 0:
        return "needs root for mount in a private mount namespace (unshare -m)"
    try:
        subprocess.check_call(["unshare", "-m", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError) as exc:
        return "unshare -m does not work here ({})".format(exc)
    return None


pytestmark = [pytest.mark.skipif(_namespaces_work() is not None, reason=str(_namespaces_work())), pytest.mark.slow]


def run_on_full_disk(tmp_path, mount_dir, args, pre_dirs=(), env=None):
    """Run `espnet-edge ARGS` with ``mount_dir`` a full tmpfs; -> (rc, stderr, files left in it)."""
    os.makedirs(str(mount_dir), exist_ok=True)
    listing = str(tmp_path / "listing.json")
    driver = str(tmp_path / "driver.py")
    with open(driver, "w") as handle:
        handle.write(DRIVER)
    argv = [sys.executable, "-m", "espnet_edge"] + [str(a) for a in args]
    full_env = {"PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    full_env.update(env or {})
    subprocess.check_call(["unshare", "-m", "--propagation", "private", sys.executable, driver, str(mount_dir),
                           listing, json.dumps(list(pre_dirs)), json.dumps(argv), json.dumps(full_env)],
                          cwd=ROOT, timeout=600)
    with open(listing) as handle:
        result = json.load(handle)
    return result["rc"], result["stderr"], result["files"]


def assert_one_line_disk_full(rc, stderr, files, command):
    assert rc != 0, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("espnet-edge {}: error: ".format(command)), stderr
    assert "No space left on device" in last or "disk full" in last, stderr
    assert files == [], files   # nothing under a final name, no temporary left behind


PHOTO = os.path.join(PHOTOS, "sample1.jpg")


def test_segment_color(tmp_path, small_onnx):
    full = tmp_path / "full"
    rc, err, files = run_on_full_disk(tmp_path, full, ["segment", "--onnx", small_onnx, PHOTO, "--color",
                                                        "--out", full / "masks"], pre_dirs=["masks"])
    assert_one_line_disk_full(rc, err, files, "segment")
    assert "sample1.png" in err and "--out" in err


def test_export(tmp_path):
    full = tmp_path / "full"
    rc, err, files = run_on_full_disk(tmp_path, full, ["export", "--model", "espnet-c-q3", "--size", "256x128",
                                                        "--out", full / "onnx"], pre_dirs=["onnx"])
    assert_one_line_disk_full(rc, err, files, "export")


def test_profile(tmp_path, small_onnx):
    full = tmp_path / "full"
    rc, err, files = run_on_full_disk(
        tmp_path, full, ["profile", "--onnx", small_onnx, "--out", full / "profiles", "--idle", "0",
                         "--duration", "1", "--warmup", "1"],
        pre_dirs=["profiles"], env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "no-jetson"),
                                    "ESPNET_EDGE_TEGRASTATS": ""})
    assert_one_line_disk_full(rc, err, files, "profile")


def test_demo_save_video(tmp_path, small_onnx):
    full = tmp_path / "full"
    rc, err, files = run_on_full_disk(
        tmp_path, full, ["demo", "--onnx", small_onnx, "--source", PHOTOS, "--no-display", "--max-frames", "3",
                         "--save", full / "demo.mp4"])
    assert_one_line_disk_full(rc, err, files, "demo")
    assert "demo.mp4" in err


def test_bench_json(tmp_path, small_onnx):
    full = tmp_path / "full"
    rc, err, files = run_on_full_disk(
        tmp_path, full, ["bench", "--onnx", small_onnx, "--iters", "2", "--warmup", "0", "--json",
                         full / "bench.json"])
    assert_one_line_disk_full(rc, err, files, "bench")
    assert "--json" in err


def test_clocks_set_saves_state_or_touches_nothing(tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0)
    before = read_freqs(paths)
    state_dir = tmp_path / "sys" / "var" / "tmp"
    rc, err, files = run_on_full_disk(tmp_path, state_dir, ["clocks", "set", "828"],
                                      env={"ESPNET_EDGE_SYSFS_ROOT": paths["root"]})
    assert_one_line_disk_full(rc, err, files, "clocks")
    assert read_freqs(paths) == before   # no state on disk: no sysfs write either
