"""`espnet-edge doctor --selftest` here (no TensorRT, no Jetson) and on a simulated TX2 with a replaying
tegrastats (real recorded lines): what can run runs, the rest is listed with its reason."""

import json
import os

from sim_jetson import make_board_tree, read_freqs

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")


def _report(main, tmp_path, env):
    out = tmp_path / "report.json"
    result = main("doctor", "--selftest", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    return result, report, {s["step"]: s for s in report["steps"]}


def test_selftest_on_a_plain_machine_lists_every_skip(main, tmp_path):
    result, report, steps = _report(main, tmp_path, {"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "empty")})
    assert set(steps) == {"tensorrt", "gpu_clock", "clock_pin", "tegrastats", "power"}
    assert report["failed"] == [] and report["ok"] == []
    assert "TensorRT is not installed" in report["skipped"]["tensorrt"]
    assert "not a Jetson" in report["skipped"]["gpu_clock"] and "not a Jetson" in report["skipped"]["clock_pin"]
    assert "skip  tensorrt" in result.stdout and "report: " in result.stdout
    assert any(check["name"] == "numpy" for check in report["doctor"])


def test_selftest_reports_a_named_tegrastats_that_is_missing_as_failed(main, tmp_path):
    out = tmp_path / "report.json"
    result = main("doctor", "--selftest", "--out", str(out), env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "empty"),
                                                                  "ESPNET_EDGE_TEGRASTATS": str(tmp_path / "none")})
    assert result.returncode == 1 and "FAIL  tegrastats" in result.stdout
    report = json.loads(out.read_text())
    assert report["failed"] == ["tegrastats"] and "does not exist" in report["steps"][3]["reason"]


def test_selftest_on_a_simulated_tx2_reads_clock_pins_dry_and_samples(main, tmp_path):
    paths = make_board_tree(str(tmp_path / "sys"), board="tx2", release="32.7.1")
    before = read_freqs(paths)
    _, report, steps = _report(main, tmp_path, {"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "sys"),
                                               "ESPNET_EDGE_TEGRASTATS": REPLAY})
    assert report["ok"] == ["gpu_clock", "clock_pin", "tegrastats", "power"] and report["failed"] == []
    assert list(report["skipped"]) == ["tensorrt"]
    gpu = steps["gpu_clock"]["details"]["gpus"][0]
    assert gpu["node"] == "gp10b" and gpu["cur_mhz"] == gpu["max_mhz"] == 1300.5
    pin = steps["clock_pin"]["details"]
    assert pin["dry_run_mhz"] == 114.75
    assert any("would write 114750000" in line for line in pin["log"])
    assert any("would write 1300500000" in line for line in pin["log"])  # the restore
    assert read_freqs(paths) == before  # a dry run writes nothing
    assert steps["tegrastats"]["details"]["samples"] >= 5
    power = steps["power"]["details"]
    assert power["total_from"] == ["VDD_IN"] and power["gpu_rail"] == "VDD_SYS_GPU"


def test_selftest_out_must_be_a_file(main, tmp_path):
    result = main("doctor", "--selftest", "--out", str(tmp_path))
    assert result.returncode == 2 and "is a folder" in result.stderr
    assert "Traceback" not in result.stderr
