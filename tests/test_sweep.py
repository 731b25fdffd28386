"""`espnet-edge sweep` on a simulated TX2: two real ONNX exports side by side, real inference, real TX2
tegrastats lines replayed; the table, the sensitivity figures, the PNGs, --from-logs and bad input."""

import csv
import json
import os
import sys

import pytest

from conftest import TEGRASTATS_DIR, run_main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_jetson import make_board_tree, read_freqs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")
FAST = ["--idle", "0.5", "--duration", "1", "--warmup", "1", "--settle-timeout", "0.5"]
FIGURES = ["energy_vs_freq.png", "fps_vs_freq.png", "power_vs_freq.png", "sensitivity.png", "sweep.png",
           "utilisation_vs_freq.png"]


@pytest.fixture(scope="module")
def exports(export_once):
    return [export_once(name) for name in ("espnet-c-q3", "espnet-q3")]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    paths = make_board_tree(tmp_path_factory.mktemp("sys"), board="tx2", release="32.7.1", nvpmodel_mode=0)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    return paths, env


@pytest.fixture(scope="module")
def swept(exports, board, tmp_path_factory):
    paths, env = board
    before = read_freqs(paths)
    out = str(tmp_path_factory.mktemp("sweeps") / "tx2-sweep")
    proc = run_main("sweep", "--onnx", exports[0], "--onnx", exports[1], "--freqs", "114,828,1300",
                    "--out", out, *FAST, env=env)
    return proc, out, before, paths


def rows_of(folder):
    with open(os.path.join(folder, "sweep.csv")) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_sweep_runs_every_model_at_every_frequency(swept):
    proc, out, before, paths = swept
    assert proc.returncode == 0, proc.stderr
    assert read_freqs(paths) == before  # clocks restored after the sweep
    assert sorted(f for f in os.listdir(out) if f.endswith(".png")) == FIGURES
    runs = sorted(os.listdir(os.path.join(out, "runs")))
    assert runs == sorted("{}-256x128-{}MHz".format(m, f) for m in ("espnet-c-q3", "espnet-q3")
                          for f in (114, 828, 1300))
    rows = rows_of(out)
    assert [(r["label"], float(r["freq_mhz"])) for r in rows] == [
        (m + "-256x128", f) for m in ("espnet-c-q3", "espnet-q3") for f in (114.75, 828.75, 1300.5)]
    for row in rows:
        run = json.load(open(os.path.join(out, "runs", row["run"], "summary.json")))
        perf = run["performance"]
        assert float(row["fps"]) == pytest.approx(perf["frames"] / perf["seconds"])
        assert float(row["exec_ms"]) == pytest.approx(1000.0 * perf["seconds"] / perf["frames"])
        # energy from the simulated VDD_IN node (constant 1000 mW), integrated over the measured phase
        assert float(row["energy_mj"]) == pytest.approx(1000 * perf["seconds"] / perf["frames"])
        assert "VDD_IN" in row["energy_source"] and row["throttled"] == "False"
        # the simulated cur_freq does not follow the pin (no kernel in a plain file tree): reported, not hidden
        assert float(row["settle_s"]) >= 0
        assert run["gpu_freq"]["applied_mhz"] == float(row["freq_mhz"])
        assert row["power_method"].startswith("VDD_IN")


@pytest.mark.slow
def test_sweep_sensitivity_is_the_papers_definition(swept):
    _proc, out, _before, _paths = swept
    summary = json.load(open(os.path.join(out, "summary.json")))
    rows = rows_of(out)
    for label, model in summary["models"].items():
        mine = [r for r in rows if r["label"] == label]
        (f0, t0), (f1, t1), (f2, t2) = [(float(r["freq_mhz"]), float(r["exec_ms"])) for r in mine]
        neighbours = model["sensitivity"]["neighbours"]
        assert [(n["from_mhz"], n["to_mhz"]) for n in neighbours] == [(f0, f1), (f1, f2)]
        assert neighbours[0]["pct"] == pytest.approx(-((t1 - t0) / t0) / ((f1 - f0) / f0) * 100)
        assert neighbours[1]["pct"] == pytest.approx(-((t2 - t1) / t1) / ((f2 - f1) / f1) * 100)
        assert model["sensitivity"]["overall"]["pct"] == pytest.approx(-((t2 - t0) / t0) / ((f2 - f0) / f0) * 100)
    assert summary["figures"] == ["fps_vs_freq.png", "sensitivity.png", "power_vs_freq.png",
                                  "energy_vs_freq.png", "utilisation_vs_freq.png", "sweep.png"]
    # rows are SummaryRow records in memory, JSON objects (every field, in order) in the file; the CSV
    # holds the same values
    from espnet_edge.profiler.summary import SummaryRow

    assert [list(row) for row in summary["rows"]] == [list(SummaryRow._fields)] * len(rows)
    assert [(r["run"], r["fps"]) for r in summary["rows"]] == [(r["run"], float(r["fps"])) for r in rows]


@pytest.mark.slow
def test_sweep_pngs_are_real_images(swept):
    import cv2
    import numpy as np

    _proc, out, _before, _paths = swept
    for name in FIGURES:
        image = cv2.imread(os.path.join(out, name))
        assert image is not None and image.shape[0] > 200 and image.shape[1] > 300, name
        colours = np.unique(image.reshape(-1, 3), axis=0)
        assert image.std() > 5 and len(colours) > 20, name  # axes, lines, text: not a blank canvas
        # both models' colours (matplotlib C0 blue, C1 orange; BGR) are drawn on every data figure
        for bgr in ((180, 119, 31), (14, 127, 255)):
            assert np.any(np.all(np.abs(image.astype(int) - bgr) < 12, axis=2)), (name, bgr)


@pytest.mark.slow
def test_from_logs_rebuilds_the_same_table(swept, tmp_path):
    _proc, out, _before, _paths = swept
    rebuilt = str(tmp_path / "rebuilt")
    proc = run_main("sweep", "--from-logs", os.path.join(out, "runs"), "--out", rebuilt)
    assert proc.returncode == 0, proc.stderr
    assert rows_of(rebuilt) == rows_of(out)
    assert sorted(f for f in os.listdir(rebuilt) if f.endswith(".png")) == FIGURES
    # one model's runs alone (a folder per run given twice over) also work
    single = [os.path.join(out, "runs", r) for r in sorted(os.listdir(os.path.join(out, "runs")))[:3]]
    proc = run_main("sweep", "--from-logs", single[0], "--from-logs", single[1], "--from-logs", single[2],
                    "--out", tmp_path / "one")
    assert proc.returncode == 0, proc.stderr
    assert len(rows_of(str(tmp_path / "one"))) == 3


def one_error_line(proc):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("freqs,expect", [
    ("114,828,114", "appears twice"),
    ("114,500", "not a step of this GPU"),
    ("114,5000", "outside this GPU's range"),
    ("114,abc", "not a number"),
    ("828,829", "same GPU step"),
])
def test_sweep_bad_frequency_lists(exports, board, tmp_path, freqs, expect):
    _paths, env = board
    out = tmp_path / "s"
    proc = run_main("sweep", "--onnx", exports[0], "--freqs", freqs, "--out", out, *FAST, env=env)
    assert expect in one_error_line(proc)
    assert not out.exists()


def test_sweep_never_overwrites(exports, board, tmp_path):
    _paths, env = board
    out = tmp_path / "exists"
    out.mkdir()
    proc = run_main("sweep", "--onnx", exports[0], "--freqs", "114", "--out", out, *FAST, env=env)
    assert "already exists" in one_error_line(proc)
    assert os.listdir(str(out)) == []


def test_from_logs_of_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_main("sweep", "--from-logs", tmp_path / "empty", "--out", tmp_path / "r")
    assert "no profile runs" in one_error_line(proc)
    proc = run_main("sweep", "--out", tmp_path / "r")
    assert "name what to sweep" in one_error_line(proc)
    assert not (tmp_path / "r").exists()


def test_sensitivity_by_hand():
    from espnet_edge.profiler.sweep import sensitivity

    # time halves when the clock doubles: -(-50%) / 100% = 50 %
    result = sensitivity([(200.0, 20.0), (100.0, 40.0), (400.0, 15.0)])
    assert [n["pct"] for n in result["neighbours"]] == [pytest.approx(50.0), pytest.approx(25.0)]
    assert result["overall"]["pct"] == pytest.approx(-((15.0 - 40.0) / 40.0) / 3.0 * 100)
    assert sensitivity([(100.0, 10.0)]) == {"neighbours": [], "overall": None}


@pytest.mark.slow
def test_report_from_runs_without_power_says_so(tmp_path):
    from espnet_edge.profiler.run_record import RunSummary
    from espnet_edge.profiler.sweep import build_report, write_report

    runs = [{"label": "m", "run": "m-{}".format(f), "gpu_freq": {"requested_mhz": f, "applied_mhz": f},
             "performance": {"fps": fps, "frames": 10, "seconds": 10.0 / fps},
             "power": {"total_mw": None, "total_method": "no power rails in the samples"},
             "energy_mj_per_frame": {"gross": None, "above_idle": None},
             "utilisation": {"gpu_pct": {"load": 50.0}, "cpu_pct": {"load": 20.0}}}
            for f, fps in ((114.75, 10.0), (1300.5, 40.0))]
    report = build_report([RunSummary.from_dict(run) for run in runs])
    assert report["missing"] == ["m: no power figures (no power rails in its samples)"]
    pngs = write_report(str(tmp_path), report)
    assert len(pngs) == 6 and all(os.path.getsize(p) > 1000 for p in pngs)
