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


def format_summary(summary):
    """A few lines for the console after ``espnet-edge profile``."""
    perf = summary["performance"]
    power = summary["power"]
    util = summary["utilisation"]
    lat = perf.get("latency_ms") or {}
    lines = [
        "frames {}  in {} s  ->  {} FPS  (latency mean {} ms, p90 {} ms)".format(
            perf.get("frames"), _f(perf.get("seconds"), "{:.2f}"), _f(perf.get("fps"), "{:.2f}"),
            _f(lat.get("mean"), "{:.2f}"), _f(lat.get("p90"), "{:.2f}")),
    ]
    total = power.get("total_mw") or {}
    lines.append("power ({}): idle {} mW, load {} mW".format(
        power.get("total_method"), _f(total.get("idle"), "{:.0f}"), _f(total.get("load"), "{:.0f}")))
    energy = summary["energy_mj_per_frame"]
    idle = summary.get("idle_baseline") or {"valid": True}
    lines.append("energy per frame: {} mJ gross, {} mJ above idle{}".format(
        _f(energy.get("gross"), "{:.2f}"), _f(energy.get("above_idle"), "{:.2f}"),
        "" if idle.get("valid") else "  [WARNING: idle baseline not valid]"))
    if energy.get("source"):
        lines.append("energy from: {}".format(energy["source"]))
    settle = summary.get("settle")
    if settle:
        lines.append("settled in {:.2f} s{}".format(settle["settle_s"], "" if settle["settled"] else
                                                    " (NOT settled: {})".format(settle["reason"])))
    thermal = summary.get("thermal")
    if thermal:
        start, end = thermal.get("hottest_start"), thermal.get("hottest_end")
        lines.append("thermal: hottest {} at start, {} at end; {}".format(
            "n/a" if not start or start[0] is None else "{} {:.1f} C".format(start[0], start[1]),
            "n/a" if not end or end[0] is None else "{} {:.1f} C".format(end[0], end[1]),
            "THROTTLED: " + "; ".join(thermal["findings"]) if thermal.get("throttled") else "no throttling seen"))
    board = summary.get("board_settings")
    if board:
        mode = board.get("nvpmodel") or {}
        lines.append("board: nvpmodel {}  EMC {}  fan {}".format(
            "{} ({})".format(mode.get("id"), mode.get("name")) if mode else "n/a",
            _f(board.get("emc_mhz"), "{:g} MHz"), board.get("fan") or "n/a"))
    lines.append("utilisation under load: GPU {}%  CPU {}%  EMC {}%  GPU clock {} MHz".format(
        _f(util["gpu_pct"]["load"]), _f(util["cpu_pct"]["load"]), _f(util["emc_pct"]["load"]),
        _f(util["gpu_freq_mhz"]["load"], "{:.0f}")))
    for item in summary.get("warnings") or []:
        lines.append("warning: " + item)
    for item in summary.get("missing") or []:
        lines.append("missing: " + item)
    return "\n".join(lines)
