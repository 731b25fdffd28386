"""Text and CSV views of profiled runs: samples.csv, the console summary, the sweep table."""

import csv

from espnet_edge.profiler import stats, tegrastats
from espnet_edge.utils.atomic import atomic_open


def _phase_of(t, phases):
    for name in ("settle", "idle", "warmup", "measured"):
        phase = phases.get(name)
        if phase and phase["start"] <= t <= phase["end"]:
            return name
    return ""


def write_samples_csv(path, samples, phases, total_rails):
    """One row per raw sample: arrival time, phase, and every field any sample carried."""
    rails = sorted(set(n for s in samples for n in s.rails_mw))
    temps = sorted(set(n for s in samples for n in s.temps_c))
    cores = max([len(s.cpu or []) for s in samples] or [0])
    header = (["t", "phase", "time", "ram_used_mb", "ram_total_mb", "swap_used_mb", "cpu_load_pct"]
              + ["cpu{}_load_pct".format(i) for i in range(cores)]
              + ["cpu{}_freq_mhz".format(i) for i in range(cores)]
              + ["gpu_load_pct", "gpu_freq_mhz", "emc_load_pct", "emc_freq_mhz", "total_power_mw"]
              + ["{}_mw".format(r) for r in rails] + ["temp_{}_c".format(t) for t in temps] + ["unknown"])
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for s in samples:
            cpu = s.cpu or []
            loads = [cpu[i].get("load_pct") if i < len(cpu) and cpu[i] else ("off" if i < len(cpu) else "")
                     for i in range(cores)]
            freqs = [cpu[i].get("freq_mhz") if i < len(cpu) and cpu[i] else "" for i in range(cores)]
            row = ([repr(s.t), _phase_of(s.t, phases), s.time, s.ram_used_mb,
                    s.ram_total_mb, s.swap_used_mb, tegrastats.cpu_load_pct(s)]
                   + loads + freqs
                   + [s.gpu_load_pct, ";".join("" if f is None else str(f) for f in s.gpu_freq_mhz),
                      s.emc_load_pct, s.emc_freq_mhz, stats.total_power(s, total_rails)]
                   + [s.rails_mw.get(r, {}).get("current") for r in rails]
                   + [s.temps_c.get(t) for t in temps]
                   + [" ".join(s.unknown)])
            writer.writerow(["" if v is None else v for v in row])


def _f(value, spec="{:.1f}"):
    return "n/a" if value is None else spec.format(value)


def _temperature(pair):
    return "n/a" if not pair or pair[0] is None else "{} {:.1f} C".format(pair[0], pair[1])


def format_summary(summary):
    """A few lines for the console after ``espnet-edge profile`` (``summary``: a run_record.RunSummary)."""
    perf, power, util = summary.performance, summary.power, summary.utilisation
    lat = perf.latency_ms or {}
    lines = [
        "frames {}  in {} s  ->  {} FPS  (latency mean {} ms, p90 {} ms)".format(
            perf.frames, _f(perf.seconds, "{:.2f}"), _f(perf.fps, "{:.2f}"),
            _f(lat.get("mean"), "{:.2f}"), _f(lat.get("p90"), "{:.2f}")),
    ]
    total = power.total_mw
    lines.append("power ({}): idle {} mW, load {} mW".format(
        power.total_method, _f(total and total.idle, "{:.0f}"), _f(total and total.load, "{:.0f}")))
    energy = summary.energy_mj_per_frame
    valid = summary.idle_baseline is None or summary.idle_baseline.valid
    lines.append("energy per frame: {} mJ gross, {} mJ above idle{}".format(
        _f(energy.gross, "{:.2f}"), _f(energy.above_idle, "{:.2f}"),
        "" if valid else "  [WARNING: idle baseline not valid]"))
    if energy.source:
        lines.append("energy from: {}".format(energy.source))
    settle = summary.settle
    if settle:
        lines.append("settled in {:.2f} s{}".format(settle.settle_s, "" if settle.settled else
                                                    " (NOT settled: {})".format(settle.reason)))
    thermal = summary.thermal
    if thermal:
        lines.append("thermal: hottest {} at start, {} at end; GPU peak {} under load; {}".format(
            _temperature(thermal.hottest_start), _temperature(thermal.hottest_end),
            _f(thermal.gpu_max_c, "{:.1f} C"),
            "THROTTLED: " + "; ".join(thermal.findings) if thermal.throttled else "no throttling seen"))
    board = summary.board_settings
    if board:
        mode = board.get("nvpmodel") or {}
        lines.append("board: nvpmodel {}  EMC {}  fan {}".format(
            "{} ({})".format(mode.get("id"), mode.get("name")) if mode else "n/a",
            _f(board.get("emc_mhz"), "{:g} MHz"), board.get("fan") or "n/a"))
    lines.append("utilisation under load: GPU {}%  CPU {}%  EMC {}%  GPU clock {} MHz".format(
        _f(util.gpu_pct.load), _f(util.cpu_pct.load), _f(util.emc_pct.load), _f(util.gpu_freq_mhz.load, "{:.0f}")))
    lines += ["warning: " + item for item in summary.warnings or []]
    lines += ["missing: " + item for item in summary.missing or []]
    return "\n".join(lines)
