"""`espnet-edge doctor` on this machine and on a simulated Jetson."""

import json

from sim_jetson import make_board_tree


def _checks(result):
    assert result.returncode == 0, result.stderr
    return {c["name"]: c for c in json.loads(result.stdout)}


def test_doctor_on_a_plain_machine_says_what_is_missing(main, tmp_path):
    checks = _checks(main("doctor", "--json", env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)}))
    assert checks["numpy"]["ok"] and checks["onnxruntime"]["ok"]
    assert not checks["Jetson board"]["ok"] and "--freq" in checks["Jetson board"]["disables"]
    assert not checks["tensorrt"]["ok"] and "engine" in checks["tensorrt"]["disables"]


def test_doctor_reads_a_simulated_tx2(main, tmp_path):
    make_board_tree(str(tmp_path), board="tx2", release="32.7.1")
    replay = tmp_path / "tegrastats"
    replay.write_text("#!/bin/sh\n")
    checks = _checks(main("doctor", "--json", env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path),
                                                   "ESPNET_EDGE_TEGRASTATS": str(replay)}))
    board = checks["Jetson board"]["value"]
    assert board["board"] == "tx2" and board["l4t"] == "32.7.1" and board["jetpack"].startswith("4.6")
    assert board["gpu_node"] == "gp10b"
    assert checks["tegrastats"]["value"] == str(replay)
