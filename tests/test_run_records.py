"""Typed run records: summary.json files written before RunSummary existed (tests/data/runs-v0.1.0, recorded
by `profile` on the simulated TX2 with the previous code) still load and say the same; a hand-edited value
of the wrong type is one line naming the file and the key, and `report` / `sweep --from-logs` skip that
run with it; sweep.csv's columns are SummaryRow's fields; report's FPS panel draws a run made without
--freq (issue 20: the panel said "no FPS in these runs" beside a table showing its FPS)."""

import csv
import json
import os
import shutil

import pytest

from conftest import run_cli
from espnet_edge.errors import UserError
from espnet_edge.profiler.run_record import RunSummary, SummaryRow, load_summary
from espnet_edge.runtime.benchmark import BenchResult, Iteration

HERE = os.path.dirname(os.path.abspath(__file__))
OLD_RUNS = os.path.join(HERE, "data", "runs-v0.1.0")
PINNED = os.path.join(OLD_RUNS, "espnet-c-q3-256x128-20261207-012058-828MHz")
UNPINNED = os.path.join(OLD_RUNS, "espnet-c-q3-256x128-20261207-012103")
# sweep.csv's header as the previous version wrote it
OLD_CSV_COLUMNS = ("label", "freq_mhz", "fps", "exec_ms", "latency_ms", "frames", "seconds", "power_idle_mw",
                   "power_load_mw", "gpu_power_load_mw", "energy_mj", "energy_above_idle_mj", "gpu_util_pct",
                   "cpu_util_pct", "emc_util_pct", "gpu_clock_seen_mhz", "run", "power_method", "energy_source",
                   "settle_s", "throttled", "idle_baseline_valid")
C0_BGR = (180, 119, 31)  # matplotlib's first colour: the one network of these runs


def _json(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.mark.parametrize("folder", [PINNED, UNPINNED], ids=["pinned", "unpinned"])
def test_summaries_of_the_previous_version_load_and_say_the_same(folder):
    path = os.path.join(folder, "summary.json")
    summary = load_summary(path, folder=folder)
    old = _json(path)
    assert summary.folder == folder and "folder" not in summary.to_dict()
    written = json.loads(json.dumps(summary.to_dict()))
    assert written["thermal"].pop("gpu_max_c") is None   # a figure the old file did not have: not measured
    assert written == old                                 # everything else as recorded, in the same order
    assert list(written) == list(old)
    perf = summary.performance
    assert perf.fps == old["performance"]["fps"] and perf.latency_ms["p99"] == old["performance"]["latency_ms"]["p99"]
    assert summary.power.rails_mw["VDD_IN"].load == old["power"]["rails_mw"]["VDD_IN"]["load"]
    assert summary.energy_mj_per_frame.gross == old["energy_mj_per_frame"]["gross"]
    row = summary.row()
    assert row.fps == perf.fps and row.exec_ms == pytest.approx(1000.0 / perf.fps)
    assert row.power_load_mw == old["power"]["total_mw"]["load"] and row.gpu_temp_max_c is None
    if folder == PINNED:
        assert summary.pinned_mhz == row.freq_mhz == 828.75
    else:
        assert summary.gpu_freq is None and summary.pinned_mhz is None and row.freq_mhz is None
    # tegrastats ran without root: the GPU clock comes from the power node's cur_freq in the measured phase
    assert row.gpu_clock_seen_mhz == old["thermal"]["gpu_clock_mhz_min"] == 828.75


@pytest.mark.parametrize("section, key, value, expected", [
    ("performance", "fps", "73.4", "performance.fps should be a number, not '73.4' (str)"),
    ("thermal", "throttled", "no", "thermal.throttled should be true or false, not 'no' (str)"),
    ("power", "rails_mw", {"VDD_IN": {"load": [1]}}, "power.rails_mw.VDD_IN.load should be a number"),
    ("performance", "frames", 1.5, "performance.frames should be a whole number, not 1.5 (float)"),
])
def test_a_value_of_the_wrong_type_is_one_line_naming_file_and_key(tmp_path, section, key, value, expected):
    data = _json(os.path.join(PINNED, "summary.json"))
    data[section][key] = value
    path = str(tmp_path / "summary.json")
    with open(path, "w") as handle:
        json.dump(data, handle)
    with pytest.raises(UserError) as info:
        load_summary(path)
    message = str(info.value)
    assert message.startswith(path + ": ") and expected in message and "\n" not in message


@pytest.mark.slow
def test_report_and_sweep_from_logs_skip_a_hand_edited_run_with_one_line(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(OLD_RUNS, str(runs))
    edited = str(runs / os.path.basename(PINNED) / "summary.json")
    data = _json(edited)
    data["performance"]["fps"] = "fast"
    with open(edited, "w") as handle:
        json.dump(data, handle)
    for args in (["report", str(runs), "--out", str(tmp_path / "fig7")],
                 ["sweep", "--from-logs", str(runs), "--out", str(tmp_path / "sweep")]):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        warning = [line for line in proc.stderr.splitlines() if "performance.fps" in line]
        assert len(warning) == 1 and edited in warning[0] and "run skipped" in warning[0], proc.stderr
    with open(str(tmp_path / "sweep" / "sweep.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run"] for row in rows] == [os.path.basename(UNPINNED)]   # the edited run left out


def test_sweep_csv_columns_are_the_row_fields_in_the_previous_order():
    from espnet_edge.profiler import sweep

    assert sweep.CSV_COLUMNS == SummaryRow._fields
    assert sweep.CSV_COLUMNS[:len(OLD_CSV_COLUMNS)] == OLD_CSV_COLUMNS   # new columns only at the end


def test_fps_panel_draws_a_run_made_without_freq(tmp_path):
    """The recorded unpinned run: the table has its FPS, and panel (b) now draws it at the GPU clock read
    during the run instead of saying there is no FPS."""
    import cv2
    import numpy as np

    out = tmp_path / "fig7"
    proc = run_cli("report", UNPINNED, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = _json(str(out / "fig7.json"))
    fps = _json(os.path.join(UNPINNED, "summary.json"))["performance"]["fps"]
    assert [row["fps"] for row in data["table"]] == [fps] and data["table"][0]["freq_mhz"] is None
    assert "shows 1 of them at the GPU clock read during the run" in " ".join(data["missing"])
    image = cv2.imread(str(out / "fig7b_fps.png")).astype(int)
    assert np.all(np.abs(image - C0_BGR) < 12, axis=2).sum() > 30   # the run's hollow marker

    from espnet_edge.profiler import fig7, plots, sweep

    report = fig7.build(sweep.load_runs([UNPINNED]))["report"]
    assert plots._unpinned(report, "fps") == {"espnet-c-q3-256x128": ([828.75], [fps])}


def test_fps_panel_says_what_is_missing_when_no_clock_was_read(tmp_path):
    from espnet_edge.profiler import plots, sweep

    summary = load_summary(os.path.join(UNPINNED, "summary.json"))
    unknown = summary._replace(thermal=summary.thermal._replace(gpu_clock_mhz_min=None))
    report = sweep.build_report([unknown])
    plt = plots._pyplot()
    fig, ax = plt.subplots()
    plots.draw_fps(ax, report)
    texts = [t.get_text() for t in ax.texts]
    plt.close(fig)
    assert texts == ["no GPU clock (pinned or read) for the 1 run(s) with FPS in these runs"]


def test_bench_result_round_trips_and_checks_types():
    result = BenchResult.make(backend="onnxruntime", mode="compute", iters=1, fps=10.0,
                              latency_ms={"mean": 100.0}, iterations=[Iteration(1.0, 1.1, 5.0, 5.1)],
                              stages={"h2d": {"mean": 0.0, "count": 1}, "decode": None})
    data = json.loads(json.dumps(result.to_dict()))
    assert BenchResult.from_dict(data) == result
    data["iterations"][0]["end_perf"] = None
    assert BenchResult.from_dict(data).iterations[0].end_perf is None
    data["stages"]["h2d"]["count"] = "1"
    with pytest.raises(UserError, match=r"^bench.json: stages.h2d.count should be a number"):
        BenchResult.from_dict(data, source="bench.json")


def test_a_summary_from_nothing_reads_as_not_measured():
    summary = RunSummary.from_dict({"performance": {}, "power": {}})
    assert summary.row() == SummaryRow.make(frames=None)   # every figure None, no exception
