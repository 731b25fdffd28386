"""`espnet-edge profile` end to end: a simulated TX2 (sysfs tree + tegrastats replaying real TX2 lines)
with ONNX Runtime doing real inference on a small export, and an honest partial report on this PC."""

import csv
import json
import os
import stat
import sys
import time

import pytest

from conftest import TEGRASTATS_DIR, run_main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_jetson import make_board_tree, read_freqs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")
NO_RAILS_LOG = os.path.join(TEGRASTATS_DIR, "tx2-4gb-family_jp4.6_1.txt")
FAST = ["--idle", "1", "--duration", "1", "--warmup", "1"]


@pytest.fixture
def tx2(tmp_path):
    paths = make_board_tree(tmp_path / "sys", board="tx2", release="32.7.1", nvpmodel_mode=0, cur_mhz=828.75)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
           "REPLAY_TEGRASTATS_FILE": TX2_LOG}
    return paths, env


def only_run(out):
    runs = [d for d in os.listdir(str(out)) if not d.startswith(".")]
    assert len(runs) == 1, runs
    return os.path.join(str(out), runs[0])


def load(folder, name):
    with open(os.path.join(folder, name)) as handle:
        return json.load(handle)


def read_csv(folder):
    with open(os.path.join(folder, "samples.csv")) as handle:
        return list(csv.DictReader(handle))


def one_error_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[-1]


@pytest.mark.slow
def test_profile_simulated_tx2(small_onnx, tx2, tmp_path):
    paths, env = tx2
    before = read_freqs(paths)
    out = tmp_path / "profiles"
    proc = run_main("profile", "--onnx", small_onnx, "--freq", "828", "--out", out, *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    assert read_freqs(paths) == before  # clocks restored
    folder = only_run(out)
    assert folder.endswith("-828MHz") and os.path.basename(folder).startswith("espnet-c-q3-256x128-")
    assert sorted(os.listdir(folder)) == ["power.csv", "samples.csv", "settings.json", "summary.json",
                                          "tegrastats.log"]
    with open(os.path.join(folder, "power.csv")) as handle:
        power_rows = list(csv.DictReader(handle))
    measured_rows = [r for r in power_rows if r["phase"] == "measured"]
    assert len(measured_rows) >= 50   # every 10 ms over the 2 s measured phase (loaded 2-core machine)
    assert {float(r["total_mw"]) for r in measured_rows} == {1000.0}
    assert {float(r["gpu_cur_mhz"]) for r in measured_rows} == {828.75}
    summary = load(folder, "summary.json")
    settings = load(folder, "settings.json")
    assert settings["onnx"] == small_onnx and settings["gpu_freq"]["applied_mhz"] == 828.75
    assert summary["source"] == "tegrastats" and summary["gpu_freq"]["requested_mhz"] == 828

    # the raw log holds exactly the real lines tegrastats (the replay) printed
    corpus = set(open(TX2_LOG).read().splitlines())
    logged = open(os.path.join(folder, "tegrastats.log")).read().splitlines()
    assert len(logged) >= 20 and set(logged) <= corpus

    phases = summary["phases"]
    assert phases["idle"]["start"] < phases["idle"]["end"] <= phases["warmup"]["start"]
    assert phases["warmup"]["start"] <= phases["warmup"]["end"] <= phases["measured"]["start"]
    assert phases["measured"]["start"] < phases["measured"]["end"]
    assert phases["idle"]["end"] - phases["idle"]["start"] >= 1.0

    perf = summary["performance"]
    assert perf["frames"] > 0
    assert perf["seconds"] == pytest.approx(phases["measured"]["end"] - phases["measured"]["start"])
    assert perf["fps"] == pytest.approx(perf["frames"] / perf["seconds"])
    assert perf["latency_ms"]["mean"] > 0

    # power: TX2 total = VDD_IN; the means are those of the raw samples in each phase
    rows = read_csv(folder)
    assert summary["power"]["total_rails"] == ["VDD_IN"]
    by_phase = {}
    for row in rows:
        by_phase.setdefault(row["phase"], []).append(float(row["VDD_IN_mw"]))
        assert float(row["total_power_mw"]) == float(row["VDD_IN_mw"])
    assert summary["samples_per_phase"]["measured"] == len(by_phase["measured"]) >= 5
    assert summary["samples_per_phase"]["idle"] == len(by_phase["idle"]) >= 2
    load_mw = sum(by_phase["measured"]) / len(by_phase["measured"])
    idle_mw = sum(by_phase["idle"]) / len(by_phase["idle"])
    assert summary["power"]["total_mw"]["load"] == pytest.approx(load_mw)
    assert summary["power"]["total_mw"]["idle"] == pytest.approx(idle_mw)
    assert summary["power"]["rails_mw"]["VDD_SYS_GPU"]["load"] is not None
    # energy: from the simulated INA3221 node (VDD_IN, a constant 1000 mW here), not from tegrastats
    energy = summary["energy_mj_per_frame"]
    assert summary["power"]["source"]["kind"] == "power-node"
    assert "VDD_IN" in energy["source"] and "in_power0_input" in energy["source"]
    assert energy["gross"] == pytest.approx(1000 * perf["seconds"] / perf["frames"])
    assert energy["above_idle"] == pytest.approx(0, abs=1e-6)
    assert summary["settle"]["settled"] and summary["settle"]["clock_mhz"] == 828.75
    assert summary["thermal"]["throttled"] is False
    assert summary["board_settings"]["nvpmodel"]["name"] == "MAXN"

    util = summary["utilisation"]
    assert 0 <= util["gpu_pct"]["load"] <= 100 and 0 <= util["cpu_pct"]["load"] <= 100
    assert util["emc_pct"]["load"] == 0  # every TX2 line says EMC_FREQ 0%
    assert summary["memory"]["ram_total_mb"] == 7859
    assert summary["temps_c"]["GPU"]["load_max"] >= 30
    # the GPU's peak temperature under load: the hottest GPU@ reading of the measured phase's lines
    gpu_temps = [float(row["temp_GPU_c"]) for row in rows if row["phase"] == "measured"]
    assert summary["thermal"]["gpu_max_c"] == max(gpu_temps) > 0
    assert "GPU peak {:.1f} C under load".format(max(gpu_temps)) in proc.stdout
    # this log is the non-root form: no GPU clock, and the report says so
    assert any("GPU clock" in m for m in summary["missing"])
    assert "VDD_IN" in proc.stdout and "wrote" in proc.stdout


@pytest.mark.slow
def test_profile_partial_on_this_pc(small_onnx, tmp_path):
    out = tmp_path / "profiles"
    proc = run_main("profile", "--onnx", small_onnx, "--out", out, "--json", *FAST,
                    env={"ESPNET_EDGE_TEGRASTATS": "", "ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "empty"),
                        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["source"] == "host"
    energy = summary["energy_mj_per_frame"]
    assert (energy["gross"], energy["above_idle"]) == (None, None)
    assert energy["source"].startswith("tegrastats only") is False and "host only" in summary["power"]["source"]["kind"]
    assert any(m.startswith("power per rail from host") for m in summary["missing"])
    assert any(m.startswith("energy per frame: no power samples") for m in summary["missing"])
    assert any("RAPL" in m for m in summary["missing"])
    assert summary["utilisation"]["cpu_pct"]["load"] > 0  # psutil: the CPU ran the network
    assert summary["memory"]["ram_total_mb"] > 0
    assert summary["performance"]["fps"] > 0
    folder = only_run(out)
    assert not os.path.exists(os.path.join(folder, "tegrastats.log"))
    assert len(read_csv(folder)) >= 20


@pytest.mark.slow
def test_profile_without_power_rails(small_onnx, tx2, tmp_path):
    _paths, env = tx2
    env = dict(env, REPLAY_TEGRASTATS_FILE=NO_RAILS_LOG)
    # tegrastats prints no rails and the power-node sampler is off: no energy, and the report says why
    proc = run_main("profile", "--onnx", small_onnx, "--out", tmp_path / "p", "--json", "--power-interval", "0",
                    *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["power"]["total_mw"] is None and summary["energy_mj_per_frame"]["gross"] is None
    assert summary["energy_mj_per_frame"]["source"].startswith("tegrastats only")
    assert any("no power rails" in m for m in summary["missing"])
    assert summary["utilisation"]["cpu_online"]["load"] == 4  # two Denver cores `off`
    # the power node beside tegrastats still gives the energy
    node = run_main("profile", "--onnx", small_onnx, "--out", tmp_path / "q", "--json", *FAST, env=env)
    assert node.returncode == 0, node.stderr
    summary = json.loads(node.stdout)
    assert summary["power"]["source"]["kind"] == "power-node" and summary["energy_mj_per_frame"]["gross"] > 0


@pytest.mark.parametrize("case,expect", [
    ("missing", "does not exist"),
    ("not-executable", "no permission"),
    ("permission", "no permission"),
    ("exits-early", "exited early"),
])
@pytest.mark.slow
def test_profile_bad_tegrastats(small_onnx, tx2, tmp_path, case, expect):
    _paths, env = tx2
    env = dict(env)
    if case == "missing":
        env["ESPNET_EDGE_TEGRASTATS"] = str(tmp_path / "no-such-tegrastats")
    elif case == "not-executable":
        copy = tmp_path / "tegrastats"
        copy.write_text(open(REPLAY).read())
        os.chmod(str(copy), stat.S_IRUSR | stat.S_IWUSR)
        env["ESPNET_EDGE_TEGRASTATS"] = str(copy)
    elif case == "permission":
        env["REPLAY_TEGRASTATS_FAIL"] = "permission"
    else:
        env["REPLAY_TEGRASTATS_EXIT_AFTER"] = "5"
    out = tmp_path / "profiles"
    proc = run_main("profile", "--onnx", small_onnx, "--out", out, *FAST, env=env)
    assert expect in one_error_line(proc)
    assert not os.path.isdir(str(out)) or [d for d in os.listdir(str(out)) if not d.startswith(".")] == []


def test_profile_never_overwrites(small_onnx, tx2, tmp_path):
    from espnet_edge.profiler.profile import new_run_dir

    _paths, env = tx2
    out = tmp_path / "profiles"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "keep.txt").write_text("old")
    proc = run_main("profile", "--onnx", small_onnx, "--out", out, "--name", "mine", *FAST, env=env)
    assert "already exists" in one_error_line(proc)
    assert os.listdir(str(out / "mine")) == ["keep.txt"]
    assert new_run_dir(str(out), "mine") == str(out / "mine-2")


def test_profile_freq_needs_a_jetson(small_onnx, tmp_path):
    proc = run_main("profile", "--onnx", small_onnx, "--freq", "828", "--out", tmp_path / "p", *FAST,
                    env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path / "empty"), "ESPNET_EDGE_TEGRASTATS": REPLAY})
    assert "not a Jetson" in one_error_line(proc)


def test_tegrastats_sampler_timestamps_and_stops(monkeypatch):
    from espnet_edge.profiler.samplers import TegrastatsSampler

    monkeypatch.setenv("REPLAY_TEGRASTATS_FILE", TX2_LOG)
    sampler = TegrastatsSampler(interval_ms=20, executable=REPLAY)
    started = time.time()
    with sampler:
        time.sleep(0.5)
    assert sampler.proc.returncode is not None  # the child is gone
    samples = sampler.snapshot()
    assert len(samples) >= 5
    times = [s.t for s in samples]
    assert times == sorted(times) and started <= times[0] and times[-1] <= time.time()
    lines = open(TX2_LOG).read().splitlines()
    assert [line for _t, line in sampler.raw_lines] == (lines * 10)[:len(sampler.raw_lines)]
    assert samples[0].rails_mw["VDD_IN"] == {"current": 1840, "average": 1840}


def test_host_sampler_reads_rapl_through_the_prefix(tmp_path, monkeypatch):
    from espnet_edge.profiler.samplers import HostSampler

    zone = tmp_path / "sys" / "class" / "powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    counter = zone / "energy_uj"
    counter.write_text("1000000\n")
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    sampler = HostSampler(interval_ms=50)
    with sampler:
        for step in range(1, 8):
            time.sleep(0.06)
            counter.write_text("{}\n".format(1000000 + step * 300000))  # +0.3 J every ~60 ms
    powers = [s.rails_mw["RAPL_package-0"]["current"] for s in sampler.snapshot()
              if "RAPL_package-0" in s.rails_mw]
    assert powers and min(powers) >= 0 and max(powers) > 1000  # ~5 W while the counter moved
    assert not any("RAPL" in m for m in sampler.missing)


def test_jtop_sampler_when_installed():
    pytest.importorskip("jtop", reason="jetson-stats (jtop) is not installed here")
    from espnet_edge.profiler.samplers import JtopSampler

    with JtopSampler(interval_ms=200) as sampler:
        time.sleep(0.5)
    assert sampler.snapshot()[0].cpu
