"""`espnet-edge bench --freq` on a simulated TX2: one run per frequency, clocks put back after."""

import json

import pytest

from conftest import run_cli
from sim_jetson import make_board_tree


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    result = run_cli("export", "--model", "espnet-c-q3", "--size", "256x128", "--out", out)
    assert result.returncode == 0, result.stderr
    return out / "espnet-c-q3-256x128.onnx"


def _read(paths):
    return {k: open(paths[k]).read().strip() for k in ("min_freq", "max_freq", "governor")}


def test_one_run_per_frequency_with_requested_and_applied(onnx_file, tmp_path):
    paths = make_board_tree(str(tmp_path / "root"), board="tx2", release="32.7.1", cur_mhz=828.75)
    before = _read(paths)
    report = tmp_path / "bench.json"
    result = run_cli("bench", "--onnx", onnx_file, "--freq", "824,1134", "--iters", "2", "--warmup", "1",
                     "--settle-timeout", "1", "--json", report, env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "root")})
    assert result.returncode == 0, result.stderr
    runs = json.loads(report.read_text())["runs"]
    assert [(r["freq_requested_mhz"], r["freq_applied_mhz"]) for r in runs] == [(824, 828.75), (1134, 1134.75)]
    assert all(r["iters"] == 2 and r["fps"] > 0 for r in runs)
    # settle: 828.75 reads back at once; the simulated cur_freq never follows to 1134.75 (no kernel in a
    # plain file tree), which is reported after --settle-timeout, not hidden
    assert runs[0]["settle"]["settled"] and runs[0]["settle"]["clock_mhz"] == 828.75
    assert not runs[1]["settle"]["settled"] and "not the pinned 1134.75 MHz" in runs[1]["settle"]["reason"]
    assert "VDD_IN" in runs[0]["settle"]["power_source"]["rails"][0]
    assert "requested 824 MHz, applied 828.75 MHz" in result.stderr
    assert _read(paths) == before


@pytest.mark.parametrize("freqs, message", [
    ("824,,1134", "824,,1134"),
    ("5000", "MHz"),
    ("824,5000", "5000"),
    ("824,824", "twice"),
])
def test_bad_frequency_lists_fail_before_any_run(onnx_file, tmp_path, freqs, message):
    paths = make_board_tree(str(tmp_path / "root"), board="tx2", release="32.7.1")
    before = _read(paths)
    result = run_cli("bench", "--onnx", onnx_file, "--freq", freqs, "--iters", "2",
                     env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "root")})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in result.stderr
    assert "FPS" not in result.stdout  # refused before the first run, not after it
    assert _read(paths) == before


def test_not_a_jetson(onnx_file, tmp_path):
    result = run_cli("bench", "--onnx", onnx_file, "--freq", "824", "--iters", "2",
                     env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert result.returncode != 0 and "not a Jetson" in result.stderr
    without = run_cli("bench", "--onnx", onnx_file, "--iters", "2", "--warmup", "0",
                      env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert without.returncode == 0, without.stderr
