"""`espnet-edge report`: Fig. 7 for N networks from a simulated-TX2 sweep (real ONNX exports, real inference,
real TX2 tegrastats lines replayed): every panel, the simulated label on each, the paper-style table,
the HTML page, --from-logs of copied runs, kernel results and bad input."""

import csv
import json
import os
import shutil
import sys

import pytest

from conftest import TEGRASTATS_DIR, run_main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_jetson import make_board_tree  # noqa: E402

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")
NETWORKS = ("espnet-q3", "enet-city", "erfnet-city")
PANELS = ["fig7a_size.png", "fig7b_fps.png", "fig7c_sensitivity.png", "fig7d_utilisation.png",
          "fig7e_kernels.png", "fig7f_power.png", "fig7g_power.png"]
SIM_RED = (32, 0, 176)  # BGR of the "SIMULATED" badge (#b00020)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, export_once):
    folder = tmp_path_factory.mktemp("onnx")
    onnx = []
    for name in NETWORKS:
        path = str(folder / "{}.onnx".format(name))  # the label is the file name: the zoo name
        shutil.copyfile(export_once(name), path)
        onnx += ["--onnx", path]
    paths = make_board_tree(tmp_path_factory.mktemp("sys"), board="tx2", release="32.7.1", nvpmodel_mode=0)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    out = str(tmp_path_factory.mktemp("sweeps") / "tx2")
    proc = run_main("sweep", *onnx, "--freqs", "420,828,1134", "--out", out, "--idle", "0.5", "--duration", "1",
                    "--warmup", "1", "--settle-timeout", "0.5", env=env)  # nothing makes a simulated clock settle
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def report(swept, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report") / "fig7")
    proc = run_main("report", swept, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "SIMULATED" in proc.stdout
    return out


def test_report_has_every_panel_table_and_page(report):
    files = sorted(os.listdir(report))
    assert files == sorted(PANELS + ["fig7.png", "fig7.html", "fig7.json", "fig7_table.csv", "fig7_table.md"])
    data = json.load(open(os.path.join(report, "fig7.json")))
    assert data["labels"] == sorted(NETWORKS) and data["simulated"] is True
    assert data["power_freqs"] == [828.75, 1134.75]  # the TX2 steps next to the paper's 824 and 1134 MHz
    assert data["sizes"]["enet-city"]["params"] == 351804
    assert data["sizes"]["espnet-q3"]["size_mb"] == pytest.approx(202649 * 4 / 1e6)
    # every network has a power trace with its three phases at both frequencies
    for freq in ("828.75", "1134.75"):
        assert sorted(data["traces"][freq]) == sorted(NETWORKS)
        for trace in data["traces"][freq].values():
            assert sorted(trace["phases"]) == ["idle", "measured", "warmup"] and trace["samples"] > 10
    assert any("no kernel-efficiency results" in m for m in data["missing"])


def test_table_matches_the_sweep(report, swept):
    with open(os.path.join(swept, "sweep.csv")) as handle:
        sweep_rows = list(csv.DictReader(handle))
    with open(os.path.join(report, "fig7_table.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(sweep_rows) == 9
    for row, ref in zip(rows, sweep_rows):
        assert row["network"] == ref["label"] and float(row["freq_mhz"]) == float(ref["freq_mhz"])
        assert float(row["fps"]) == pytest.approx(float(ref["fps"]))
        assert float(row["power_w"]) == pytest.approx(float(ref["power_load_mw"]) / 1000.0)
        assert float(row["energy_mj"]) == pytest.approx(float(ref["energy_mj"]))
        assert row["simulated"] == "True"
    markdown = open(os.path.join(report, "fig7_table.md")).read()
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == 1 + 9  # header and rows
    assert "**Simulated board**" in markdown


def test_every_panel_is_drawn_and_labelled_simulated(report):
    import cv2
    import numpy as np

    for name in PANELS + ["fig7.png"]:
        image = cv2.imread(os.path.join(report, name))
        assert image is not None and image.shape[1] > 300, name
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20, name
        red = np.all(np.abs(image.astype(int) - SIM_RED) < 25, axis=2)
        assert red.sum() > 30, name  # the SIMULATED badge
    for name in ("fig7a_size.png", "fig7b_fps.png", "fig7f_power.png", "fig7g_power.png"):
        image = cv2.imread(os.path.join(report, name)).astype(int)
        for bgr in ((180, 119, 31), (14, 127, 255), (44, 160, 44)):  # C0, C1, C2: all three networks
            assert np.any(np.all(np.abs(image - bgr) < 12, axis=2)), (name, bgr)


def test_html_page_holds_every_panel(report):
    page = open(os.path.join(report, "fig7.html")).read()
    assert page.count("data:image/png;base64,") == len(PANELS) + 1
    assert "SIMULATED" in page and page.count("<tr>") == 1 + 9


def test_from_logs_of_runs_copied_elsewhere_with_kernel_results(swept, tmp_path):
    from espnet_edge.profiler import kernels

    copied = tmp_path / "from-board"
    shutil.copytree(os.path.join(swept, "runs"), str(copied))
    # a kernels.json as `profile --kernels` writes it, from the recorded nvprof output in tests/data
    text = open(os.path.join(HERE, "data", "kernels", "nvprof_metrics_k20c.csv")).read()
    kernels_file = str(tmp_path / "kernels.json")
    with open(kernels_file, "w") as handle:
        json.dump({"tool": "nvprof", "networks": {"enet-city": kernels.aggregate(kernels.parse_nvprof(text))}}, handle)
    out = tmp_path / "r"
    proc = run_main("report", "--from-logs", str(copied), "--kernels", kernels_file, "--power-freqs", "420,1134",
                    "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.load(open(str(out / "fig7.json")))
    assert data["power_freqs"] == [420.75, 1134.75]
    assert data["kernels"]["enet-city"]["network"]["gst_efficiency"] == pytest.approx(74.558824)
    assert not any(m.startswith("enet-city: no kernel") for m in data["missing"])


def one_error_line(proc):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_bad_input(swept, tmp_path):
    existing = tmp_path / "exists"
    existing.mkdir()
    assert "never overwrites" in one_error_line(run_main("report", swept, "--out", str(existing)))
    assert "name the recorded runs" in one_error_line(run_main("report", "--out", str(tmp_path / "a")))
    assert "two different" in one_error_line(run_main("report", swept, "--power-freqs", "828", "--out",
                                                      str(tmp_path / "b")))
    assert "no run near 2000 MHz" in one_error_line(run_main("report", swept, "--power-freqs", "828,2000",
                                                             "--out", str(tmp_path / "c")))
    (tmp_path / "empty").mkdir()
    assert "no profile runs" in one_error_line(run_main("report", str(tmp_path / "empty"), "--out",
                                                        str(tmp_path / "d")))
    assert sorted(os.listdir(str(tmp_path))) == ["empty", "exists"]  # nothing left behind
