"""summary.json of one profiled run, built from the samples, the phases and the benchmark result, and
``SummaryRow``: the figures of one run as one typed row (the sweep's table, sweep.csv, Fig. 7)."""

from typing import NamedTuple, Optional

from espnet_edge.profiler import stats, tegrastats


class SummaryRow(NamedTuple("SummaryRow", [
        ("label", Optional[str]), ("run", Optional[str]), ("freq_mhz", Optional[float]),
        ("fps", Optional[float]), ("frames", Optional[int]), ("seconds", Optional[float]),
        ("latency_ms", Optional[float]),   # mean
        ("exec_ms", Optional[float]),      # 1000 / fps: the execution time per frame
        ("power_idle_mw", Optional[float]), ("power_load_mw", Optional[float]),
        ("gpu_power_load_mw", Optional[float]),
        ("energy_mj", Optional[float]), ("energy_above_idle_mj", Optional[float]),  # per frame
        ("gpu_util_pct", Optional[float]), ("cpu_util_pct", Optional[float]), ("emc_util_pct", Optional[float]),
        ("gpu_clock_seen_mhz", Optional[float]),
        ("power_method", Optional[str]), ("energy_source", Optional[str]),
        ("settle_s", Optional[float]), ("throttled", Optional[bool]), ("idle_baseline_valid", Optional[bool])])):
    """One profiled run's figures under load (``row_of``); written as a JSON object by ``to_dict``."""
    __slots__ = ()

    def to_dict(self):
        return dict(self._asdict())


def _get(summary, *keys):
    value = summary
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def row_of(summary, freq_mhz):
    """The SummaryRow of one run's summary (as written to summary.json, with ``label``/``run``), made at
    GPU clock ``freq_mhz`` (None: not pinned)."""
    perf = summary.get("performance") or {}
    return SummaryRow(
        label=summary.get("label"), run=summary.get("run"), freq_mhz=freq_mhz,
        fps=perf.get("fps"), frames=perf.get("frames"), seconds=perf.get("seconds"),
        latency_ms=_get(perf, "latency_ms", "mean"),
        exec_ms=1000.0 / perf["fps"] if perf.get("fps") else None,
        power_idle_mw=_get(summary, "power", "total_mw", "idle"),
        power_load_mw=_get(summary, "power", "total_mw", "load"),
        gpu_power_load_mw=_get(summary, "power", "gpu_mw", "load"),
        energy_mj=_get(summary, "energy_mj_per_frame", "gross"),
        energy_above_idle_mj=_get(summary, "energy_mj_per_frame", "above_idle"),
        gpu_util_pct=_get(summary, "utilisation", "gpu_pct", "load"),
        cpu_util_pct=_get(summary, "utilisation", "cpu_pct", "load"),
        emc_util_pct=_get(summary, "utilisation", "emc_pct", "load"),
        gpu_clock_seen_mhz=_get(summary, "utilisation", "gpu_freq_mhz", "load"),
        power_method=_get(summary, "power", "total_method"),
        energy_source=_get(summary, "energy_mj_per_frame", "source"),
        settle_s=_get(summary, "settle", "settle_s"),
        throttled=_get(summary, "thermal", "throttled"),
        idle_baseline_valid=_get(summary, "idle_baseline", "valid"))


def _idle_load(samples_idle, samples_load, value):
    return {"idle": stats.mean(value(s) for s in samples_idle),
            "load": stats.mean(value(s) for s in samples_load)}


def _max(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def summarize(samples, phases, performance, source, interval_ms):
    """Return the figures of a run and the list of figures that could not be measured (``missing``)."""
    idle = stats.in_phase(samples, phases.get("idle"))
    load = stats.in_phase(samples, phases.get("measured"))
    missing = []
    phase_counts = {name: len(stats.in_phase(samples, phase)) for name, phase in phases.items()}
    if not idle:
        missing.append("idle baseline: no sample arrived during the idle phase (make --idle longer "
                       "than the {} ms sampling interval)".format(interval_ms))
    if not load:
        missing.append("load figures: no sample arrived during the measured phase (make --duration "
                       "longer than the {} ms sampling interval)".format(interval_ms))

    rails, how = stats.total_rails(samples)
    rail_names = sorted(set(n for s in samples for n in s.rails_mw))
    power = {"total_rails": rails, "total_method": how, "rails_mw": {}, "total_mw": None, "gpu_rail": None,
             "gpu_mw": None}
    for name in rail_names:
        power["rails_mw"][name] = {
            "idle": stats.rail_means(idle, name), "load": stats.rail_means(load, name),
            "load_max": _max(s.rails_mw.get(name, {}).get("current") for s in load)}
    # energy per frame is made in profile.add_trusted_figures (trapezoidal integral, power node first)
    energy = {"gross": None, "above_idle": None}
    if rails:
        power["total_mw"] = _idle_load(idle, load, lambda s: stats.total_power(s, rails))
        gpu_rail = tegrastats.gpu_power_rail(rail_names) or ("NVML_GPU" if "NVML_GPU" in rail_names else None)
        if gpu_rail:
            power["gpu_rail"] = gpu_rail
            power["gpu_mw"] = _idle_load(idle, load, lambda s: stats.total_power(s, [gpu_rail]))
    else:
        missing.append("power per rail from {}: {} (tegrastats prints power rails on Jetson "
                       "modules with INA3221 monitors; on a PC install nvidia-ml-py for an NVIDIA GPU "
                       "or make RAPL readable)".format(source, how))

    util = {
        "gpu_pct": _idle_load(idle, load, lambda s: s.gpu_load_pct),
        "cpu_pct": _idle_load(idle, load, tegrastats.cpu_load_pct),
        "emc_pct": _idle_load(idle, load, lambda s: s.emc_load_pct),
        "gpu_freq_mhz": _idle_load(idle, load, stats.gpu_freq),
        "emc_freq_mhz": _idle_load(idle, load, lambda s: s.emc_freq_mhz),
        "cpu_online": _idle_load(idle, load, lambda s: sum(1 for c in s.cpu or [] if c) or None),
    }
    for key, label in (("gpu_pct", "GPU utilisation"), ("cpu_pct", "CPU utilisation"),
                       ("emc_pct", "memory-controller (EMC) utilisation"),
                       ("gpu_freq_mhz", "GPU clock" + (" (tegrastats prints it only as root)"
                                                       if source == "tegrastats" else ""))):
        if load and util[key]["load"] is None:
            missing.append(label)

    memory = {
        "ram_used_mb": {"idle": stats.mean(s.ram_used_mb for s in idle),
                        "load_max": _max(s.ram_used_mb for s in load)},
        "ram_total_mb": next((s.ram_total_mb for s in samples if s.ram_total_mb), None),
        "swap_used_mb_max": _max(s.swap_used_mb for s in load),
    }
    if load and memory["ram_used_mb"]["load_max"] is None:
        missing.append("memory use")
    temps = {}
    for name in sorted(set(n for s in samples for n in s.temps_c)):
        temps[name] = {"idle": stats.mean(s.temps_c.get(name) for s in idle),
                       "load_max": _max(s.temps_c.get(name) for s in load)}
    if load and not temps:
        missing.append("temperatures")
    return {
        "source": source, "interval_ms": interval_ms,
        "samples": len(samples), "samples_per_phase": phase_counts,
        "performance": performance,
        "power": power,
        "energy_mj_per_frame": energy,
        "utilisation": util,
        "memory": memory,
        "temps_c": temps,
        "missing": missing,
    }
