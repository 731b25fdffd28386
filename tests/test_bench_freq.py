"""`espnet-edge bench --freq` on a simulated TX2: one run per frequency, clocks put back after."""

import json

import pytest

from conftest import run_main
from sim_jetson import make_board_tree


def _read(paths):
    return {k: open(paths[k]).read().strip() for k in ("min_freq", "max_freq", "governor")}


@pytest.mark.slow
def test_one_run_per_frequency_with_requested_and_applied(small_onnx, tmp_path):
    paths = make_board_tree(str(tmp_path / "root"), board="tx2", release="32.7.1", cur_mhz=828.75)
    before = _read(paths)
    report = tmp_path / "bench.json"
    result = run_main("bench", "--onnx", small_onnx, "--freq", "824,1134", "--iters", "2", "--warmup", "1",
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
def test_bad_frequency_lists_fail_before_any_run(small_onnx, tmp_path, freqs, message):
    paths = make_board_tree(str(tmp_path / "root"), board="tx2", release="32.7.1")
    before = _read(paths)
    result = run_main("bench", "--onnx", small_onnx, "--freq", freqs, "--iters", "2",
                      env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "root")})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in result.stderr
    assert "FPS" not in result.stdout  # refused before the first run, not after it
    assert _read(paths) == before


def test_not_a_jetson(small_onnx, tmp_path):
    result = run_main("bench", "--onnx", small_onnx, "--freq", "824", "--iters", "2",
                      env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert result.returncode != 0 and "not a Jetson" in result.stderr
    without = run_main("bench", "--onnx", small_onnx, "--iters", "2", "--warmup", "0",
                       env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert without.returncode == 0, without.stderr
