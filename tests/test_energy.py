"""Energy you can trust: the trapezoidal integral, the power-node sampler on each driver, a simulated
power node following a scripted trace (known answer), a simulated throttle, the idle-baseline check,
and --emc pinned and restored."""

import json
import math
import os
import threading
import time

import pytest

from conftest import TEGRASTATS_DIR, run_cli, run_main, spawn_cli
from espnet_edge.errors import UserError
from espnet_edge.jetson import emc
from espnet_edge.profiler import energy, power_node
from espnet_edge.profiler.report import format_summary
from espnet_edge.profiler.run_record import RunSummary
from sim_jetson import make_board_tree

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")
BUSY_LOG = os.path.join(TEGRASTATS_DIR, "orin-nx-8gb_jp6-inferred_1.txt")   # GPU 84%, CPU ~93%
FAST = ["--idle", "1", "--duration", "1", "--warmup", "1"]


# -- the integral -----------------------------------------------------------------------------------
def test_trapezoid_is_exact_for_piecewise_linear_power_and_interpolates_the_bounds():
    points = [(0.0, 1000.0), (1.0, 3000.0), (1.1, 3000.0), (4.0, 1000.0)]
    # over [0.5, 2.55]: linear pieces, integrated by hand
    expected = (0.5 * (2000 + 3000) / 2) + (0.1 * 3000) + (1.45 * (3000 + 2000) / 2)
    assert energy.integrate_mj(points, 0.5, 2.55) == pytest.approx(expected, rel=1e-12)
    assert energy.integrate_mj(points, -1.0, 2.0) is None      # no sample before the start
    # uneven sampling: a plain mean of the samples would be 2000 mW, the time-weighted mean is not
    assert energy.mean_power_mw(points, 0.0, 4.0) == pytest.approx(
        (1000 + 3000) / 2 * 1.0 / 4 + 3000 * 0.1 / 4 + (3000 + 1000) / 2 * 2.9 / 4)


def test_energy_figures_per_frame_and_above_idle():
    points = [(t / 100.0, 2000.0 if t < 100 else 5000.0) for t in range(0, 301)]
    figures = energy.energy_figures(points, {"idle": {"start": 0.0, "end": 0.99},
                                             "measured": {"start": 1.5, "end": 2.5}}, 50, "test")
    assert figures["gross"] == pytest.approx(5000 * 1.0 / 50)
    assert figures["above_idle"] == pytest.approx((5000 - 2000) * 1.0 / 50)


def test_idle_baseline_problems():
    assert energy.idle_baseline_problems(2, 5, 1.0) == []
    problems = energy.idle_baseline_problems(84, 58, -30.49)
    assert len(problems) == 3 and "CPU load 58%" in problems[1] and "negative" in problems[2]


def test_negative_energy_above_idle_is_never_printed_without_a_warning():
    summary = {"performance": {"frames": 10, "seconds": 1.0, "fps": 10.0, "latency_ms": {}},
               "power": {"total_method": "VDD_IN", "total_mw": {"idle": 2000, "load": 1900}},
               "energy_mj_per_frame": {"gross": 190.0, "above_idle": -30.49, "source": "power node"},
               "idle_baseline": {"valid": False, "problems": ["energy above idle is negative"]},
               "utilisation": {k: {"load": None} for k in ("gpu_pct", "cpu_pct", "emc_pct", "gpu_freq_mhz")}}
    text = format_summary(RunSummary.from_dict(summary))
    line = next(l for l in text.splitlines() if "-30.49" in l)
    assert "WARNING" in line


# -- the power-node sampler on each driver ------------------------------------------------------------
@pytest.mark.parametrize("board, release, rail, mw", [
    ("tx2", "32.7.1", "VDD_IN", 4321),          # ina3221x IIO: in_power0_input in mW
    ("tx2", "28.2", "VDD_IN", 3456),            # L4T 28: the IIO folder is called iio_device
    ("nano", "32.7.3", "POM_5V_IN", 2100),
    ("agx-orin", "36.4.4", None, 1500),         # ina3221 hwmon: mV x mA, sum of the three module rails
    ("thor", "38.4.0", "VIN", 31000),           # ina238 hwmon: power1_input in uW
])
def test_power_node_reads_the_input_rail(tmp_path, monkeypatch, board, release, rail, mw):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    rails = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0") if rail is None else (rail,)
    make_board_tree(tmp_path, board=board, release=release, table_hz=(306000000, 612000000),
                    power_mw=dict((name, mw) for name in rails))
    sampler = power_node.PowerNodeSampler(5)
    sampler.open()
    assert sampler.available, sampler.reason
    assert [r.name for r in sampler.rails] == list(rails)
    record = sampler.read()
    assert record.total_mw == pytest.approx(mw * len(rails), abs=len(rails) * 5.0)


def test_unreadable_power_node_falls_back_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    paths = make_board_tree(tmp_path, board="tx2", release="32.7.1")
    os.unlink(paths["power"]["VDD_IN"])
    sampler = power_node.PowerNodeSampler(5)
    sampler.open()
    assert not sampler.available and "unreadable" in sampler.reason


# -- a scripted trace: the energy integral against a known answer --------------------------------------
BASE_MW, SWING_MW, PERIOD_S = 4000.0, 600.0, 0.7


def trace_mw(t, t0):
    return BASE_MW + SWING_MW * math.sin(2 * math.pi * (t - t0) / PERIOD_S)


def trace_integral_mj(a, b, t0):
    k = 2 * math.pi / PERIOD_S
    return BASE_MW * (b - a) - SWING_MW / k * (math.cos(k * (b - t0)) - math.cos(k * (a - t0)))


class TraceWriter(threading.Thread):
    """Keeps the simulated VDD_IN node at trace_mw(now), replacing the file atomically every 2 ms."""

    def __init__(self, path, t0):
        threading.Thread.__init__(self, daemon=True)
        self.path, self.t0, self.stop = path, t0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            tmp = self.path + ".tmp"
            with open(tmp, "w") as handle:
                handle.write("{}\n".format(int(round(trace_mw(time.time(), self.t0)))))
            os.rename(tmp, self.path)
            time.sleep(0.002)


@pytest.mark.slow
def test_profile_energy_equals_the_scripted_trace_integral(small_onnx, tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0, cur_mhz=828.75,
                            thermal={"GPU-therm": (45.5, 97.0), "CPU-therm": (47.0, 97.0)})
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    t0 = time.time()
    writer = TraceWriter(paths["power"]["VDD_IN"], t0)
    writer.start()
    try:
        proc = run_main("profile", "--onnx", small_onnx, "--freq", "828", "--out", tmp_path / "p", "--json",
                        "--power-interval", "10", *FAST, env=env)
    finally:
        writer.stop.set()
        writer.join()
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    measured, frames = summary["phases"]["measured"], summary["performance"]["frames"]
    known = trace_integral_mj(measured["start"], measured["end"], t0) / frames
    figures = summary["energy_mj_per_frame"]
    print("energy per frame {:.4f} mJ, trace integral {:.4f} mJ, rel. error {:.2e}".format(
        figures["gross"], known, abs(figures["gross"] - known) / known))
    assert figures["gross"] == pytest.approx(known, rel=0.01)
    assert "VDD_IN" in figures["source"] and "every 10 ms" in figures["source"]
    assert "trapezoidal" in figures["method"]
    # what the issue asks every run to report
    assert summary["settle"]["settle_s"] >= 0 and summary["settle"]["clock_mhz"] == 828.75
    assert summary["thermal"]["start"]["GPU-therm"] == {"temp_c": 45.5, "trip_c": 97.0}
    assert summary["thermal"]["end"]["CPU-therm"]["temp_c"] == 47.0 and not summary["thermal"]["throttled"]
    assert summary["power"]["source"]["kind"] == "power-node"
    assert summary["power"]["source"]["samples"] >= 150      # 10 ms over ~4 s
    assert summary["board_settings"]["nvpmodel"]["name"] == "MAXN"


# -- a simulated throttle: the clock read-back drops mid-run --------------------------------------------
@pytest.mark.slow
def test_clock_dropping_below_the_pin_mid_run_is_flagged(small_onnx, tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0, cur_mhz=828.75)
    env = dict(ESPNET_EDGE_SYSFS_ROOT=paths["root"], ESPNET_EDGE_TEGRASTATS=REPLAY, REPLAY_TEGRASTATS_FILE=TX2_LOG)
    proc = spawn_cli("profile", "--onnx", small_onnx, "--freq", "828", "--out", tmp_path / "p", "--json",
                     "--idle", "0.5", "--duration", "3", "--warmup", "2", env=env)
    for line in proc.stderr:
        if "idle baseline" in line:
            time.sleep(1.5)   # into the measured phase
            with open(paths["cur_freq"], "w") as handle:
                handle.write("420750000\n")   # the firmware pulls the clock down
            break
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["thermal"]["throttled"] is True
    assert "below the pinned 828.75 MHz" in summary["thermal"]["findings"][0]
    assert summary["thermal"]["gpu_clock_mhz_min"] == 420.75
    assert any(w.startswith("throttling:") for w in summary["warnings"])


@pytest.mark.slow
def test_thermal_zone_at_its_trip_point_is_flagged(small_onnx, tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1",
                            thermal={"GPU-therm": (96.5, 97.0)})
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    proc = run_main("profile", "--onnx", small_onnx, "--out", tmp_path / "p", *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "THROTTLED: thermal zone(s) GPU-therm at the trip point" in proc.stdout


@pytest.mark.slow
def test_busy_idle_baseline_is_flagged(small_onnx, tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1")
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": BUSY_LOG}
    proc = run_main("profile", "--onnx", small_onnx, "--out", tmp_path / "p", "--json", *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["idle_baseline"]["valid"] is False
    assert "GPU load 84%" in summary["idle_baseline"]["problems"][0]
    assert any("idle baseline not valid" in w for w in summary["warnings"])


# -- the memory clock -----------------------------------------------------------------------------------
def test_emc_pin_snaps_verifies_and_restores(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    paths = make_board_tree(tmp_path, board="tx2", release="32.7.1", emc_hz=1866000000)
    with emc.pin_emc(665, log=None) as pin:
        assert pin.applied_mhz == 665.6
        assert open(paths["emc_rate"]).read().strip() == "665600000"
        assert open(paths["emc_lock"]).read().strip() == "1"
    assert open(paths["emc_rate"]).read().strip() == "1866000000"
    assert open(paths["emc_lock"]).read().strip() == "0"
    with pytest.raises(RuntimeError):
        with emc.pin_emc(204, log=None):
            raise RuntimeError("run crashed")
    assert open(paths["emc_rate"]).read().strip() == "1866000000"
    with pytest.raises(UserError) as error:
        with emc.pin_emc(1600, log=None):
            pass
    assert "204, 665.6, 1866 MHz" in str(error.value)


@pytest.mark.slow
def test_emc_where_the_board_cannot_is_a_one_line_error(small_onnx, tmp_path):
    thor = make_board_tree(tmp_path / "thor", board="thor", release="38.4.0", table_hz=(300000000, 600000000))
    proc = run_cli("profile", "--onnx", small_onnx, "--emc", "2133", "--out", tmp_path / "p",
                   env={"ESPNET_EDGE_SYSFS_ROOT": thor["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "no sourced way to pin the memory clock" in proc.stderr
    tx2 = make_board_tree(tmp_path / "tx2", board="tx2", release="32.7.1")   # no debugfs EMC files
    proc = run_cli("profile", "--onnx", small_onnx, "--emc", "1600", "--out", tmp_path / "q",
                   env={"ESPNET_EDGE_SYSFS_ROOT": tx2["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY})
    assert proc.returncode == 2 and "run with sudo" in proc.stderr.strip().splitlines()[-1]
    assert not os.path.exists(str(tmp_path / "q"))


@pytest.mark.slow
def test_profile_with_emc_records_and_restores_it(small_onnx, tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", emc_hz=1866000000)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    proc = run_cli("profile", "--onnx", small_onnx, "--emc", "665", "--out", tmp_path / "p", "--json", *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["emc_pin"] == {"requested_mhz": 665, "applied_mhz": 665.6}
    assert summary["board_settings"]["emc_mhz"] == 665.6     # recorded while pinned
    assert open(paths["emc_rate"]).read().strip() == "1866000000"
    assert open(paths["emc_lock"]).read().strip() == "0"


@pytest.mark.slow
def test_sweep_marks_throttled_runs(tmp_path):
    from espnet_edge.profiler import sweep

    runs = []
    for freq, fps, hot in ((114.75, 10.0, False), (828.75, 40.0, True)):
        runs.append({"label": "m", "run": "m-{:g}".format(freq), "gpu_freq": {"applied_mhz": freq},
                     "performance": {"fps": fps, "frames": 20, "seconds": 20 / fps, "latency_ms": {"mean": 1.0}},
                     "power": {"total_mw": {"idle": 1800, "load": 2500}, "total_method": "VDD_IN"},
                     "energy_mj_per_frame": {"gross": 2500 / fps, "above_idle": 700 / fps, "source": "power node"},
                     "thermal": {"throttled": hot}, "settle": {"settle_s": 0.3}, "idle_baseline": {"valid": True}})
    report = sweep.build_report([RunSummary.from_dict(run) for run in runs])
    assert [r.throttled for r in report["rows"]] == [False, True]
    pngs = sweep.write_report(str(tmp_path), report)
    assert len(pngs) == 6 and all(os.path.getsize(p) > 10000 for p in pngs)
    assert "throttled" in open(os.path.join(str(tmp_path), "sweep.csv")).readline()


@pytest.mark.slow
def test_tegrastats_only_energy_is_the_integral_of_its_lines_and_says_so(small_onnx, tmp_path):
    import csv

    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", with_power=False)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    proc = run_main("profile", "--onnx", small_onnx, "--out", tmp_path / "p", "--json", "--interval", "50",
                    "--settle-timeout", "1", *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    figures = summary["energy_mj_per_frame"]
    assert figures["source"].startswith("tegrastats only (VDD_IN (board input rail) every 50 ms")
    assert "no INA3221/INA238 power node" in figures["source"]
    assert any("power node not used" in w for w in summary["warnings"])
    folder = os.path.join(str(tmp_path / "p"), os.listdir(str(tmp_path / "p"))[0])
    with open(os.path.join(folder, "samples.csv")) as handle:
        points = [(float(r["t"]), float(r["total_power_mw"])) for r in csv.DictReader(handle)]
    measured = summary["phases"]["measured"]
    assert figures["gross"] == pytest.approx(
        energy.integrate_mj(points, measured["start"], measured["end"]) / summary["performance"]["frames"])
    with open(os.path.join(folder, "power.csv")) as handle:   # no power node: only the GPU clock was read
        rows = list(csv.DictReader(handle))
    assert rows and all(r["total_mw"] == "" and float(r["gpu_cur_mhz"]) == 1300.5 for r in rows)


@pytest.mark.slow
def test_emc_is_restored_when_profile_is_terminated(small_onnx, tmp_path):
    import signal

    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", emc_hz=1866000000)
    env = dict(ESPNET_EDGE_SYSFS_ROOT=paths["root"], ESPNET_EDGE_TEGRASTATS=REPLAY, REPLAY_TEGRASTATS_FILE=TX2_LOG)
    proc = spawn_cli("profile", "--onnx", small_onnx, "--emc", "665", "--out", tmp_path / "p", "--idle", "30",
                     env=env)
    for line in proc.stderr:
        if "idle baseline" in line:
            assert open(paths["emc_rate"]).read().strip() == "665600000"
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert open(paths["emc_rate"]).read().strip() == "1866000000"
    assert open(paths["emc_lock"]).read().strip() == "0"
    assert not os.path.exists(str(tmp_path / "p")) or not [d for d in os.listdir(str(tmp_path / "p"))
                                                          if not d.startswith(".")]
