"""Every figure of one profiled run, computed from its samples, phases and benchmark result into a
``run_record.RunSummary`` (the record summary.json is written from): ``summarize`` (performance, power
per rail, utilisation, memory, temperatures) and ``add_trusted_figures`` (energy per frame, idle-baseline
validity, thermal state, settling, board settings)."""

from espnet_edge.profiler import stats, tegrastats
from espnet_edge.profiler.run_record import (  # noqa: F401 - SummaryRow: the row API, used from here
    Energy, IdleBaseline, IdleLoad, Memory, Peak, Power, RailFigures, RunSummary, Settle, SummaryRow, Thermal,
    Utilisation)

GPU_SENSOR = "gpu"  # the GPU's temperature sensor in tegrastats ("GPU@37C", "gpu@45C") and NVML


def _idle_load(samples_idle, samples_load, value):
    return IdleLoad(stats.mean(value(s) for s in samples_idle), stats.mean(value(s) for s in samples_load))


def _max(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _power(samples, idle, load, source, missing):
    rails, how = stats.total_rails(samples)
    rail_names = sorted(set(n for s in samples for n in s.rails_mw))
    power = Power.make(total_rails=rails, total_method=how, rails_mw=dict(
        (name, RailFigures(stats.rail_means(idle, name), stats.rail_means(load, name),
                           _max(s.rails_mw.get(name, {}).get("current") for s in load))) for name in rail_names))
    if not rails:
        missing.append("power per rail from {}: {} (tegrastats prints power rails on Jetson "
                       "modules with INA3221 monitors; on a PC install nvidia-ml-py for an NVIDIA GPU "
                       "or make RAPL readable)".format(source, how))
        return power
    power = power._replace(total_mw=_idle_load(idle, load, lambda s: stats.total_power(s, rails)))
    gpu_rail = tegrastats.gpu_power_rail(rail_names) or ("NVML_GPU" if "NVML_GPU" in rail_names else None)
    if gpu_rail:
        power = power._replace(gpu_rail=gpu_rail,
                               gpu_mw=_idle_load(idle, load, lambda s: stats.total_power(s, [gpu_rail])))
    return power


def _utilisation(idle, load, source, missing):
    util = Utilisation(
        gpu_pct=_idle_load(idle, load, lambda s: s.gpu_load_pct),
        cpu_pct=_idle_load(idle, load, tegrastats.cpu_load_pct),
        emc_pct=_idle_load(idle, load, lambda s: s.emc_load_pct),
        gpu_freq_mhz=_idle_load(idle, load, stats.gpu_freq),
        emc_freq_mhz=_idle_load(idle, load, lambda s: s.emc_freq_mhz),
        cpu_online=_idle_load(idle, load, lambda s: sum(1 for c in s.cpu or [] if c) or None))
    for key, label in (("gpu_pct", "GPU utilisation"), ("cpu_pct", "CPU utilisation"),
                       ("emc_pct", "memory-controller (EMC) utilisation"),
                       ("gpu_freq_mhz", "GPU clock" + (" (tegrastats prints it only as root)"
                                                       if source == "tegrastats" else ""))):
        if load and getattr(util, key).load is None:
            missing.append(label)
    return util


def summarize(samples, phases, performance, source, interval_ms):
    """The run's figures from its samples (``performance``: a run_record.Performance); what could not be
    measured is listed in ``missing``."""
    idle = stats.in_phase(samples, phases.get("idle"))
    load = stats.in_phase(samples, phases.get("measured"))
    missing = []
    if not idle:
        missing.append("idle baseline: no sample arrived during the idle phase (make --idle longer "
                       "than the {} ms sampling interval)".format(interval_ms))
    if not load:
        missing.append("load figures: no sample arrived during the measured phase (make --duration "
                       "longer than the {} ms sampling interval)".format(interval_ms))
    power = _power(samples, idle, load, source, missing)
    util = _utilisation(idle, load, source, missing)
    memory = Memory(ram_used_mb=Peak(stats.mean(s.ram_used_mb for s in idle), _max(s.ram_used_mb for s in load)),
                    ram_total_mb=next((s.ram_total_mb for s in samples if s.ram_total_mb), None),
                    swap_used_mb_max=_max(s.swap_used_mb for s in load))
    if load and memory.ram_used_mb.load_max is None:
        missing.append("memory use")
    temps = dict((name, Peak(stats.mean(s.temps_c.get(name) for s in idle), _max(s.temps_c.get(name) for s in load)))
                 for name in sorted(set(n for s in samples for n in s.temps_c)))
    if load and not temps:
        missing.append("temperatures")
    # energy per frame is made in add_trusted_figures (trapezoidal integral, power node first)
    return RunSummary.make(
        source=source, interval_ms=interval_ms, samples=len(samples),
        samples_per_phase=dict((name, len(stats.in_phase(samples, phase))) for name, phase in phases.items()),
        performance=performance, power=power, energy_mj_per_frame=Energy.make(), utilisation=util,
        memory=memory, temps_c=temps, missing=missing, phases=phases, warnings=[])


def _energy(summary, samples, node, node_samples, node_note, phases, frames):
    """-> (Energy, the power section's ``source``, warnings)."""
    from espnet_edge.profiler import energy

    points = [(s.t, s.total_mw) for s in node_samples if s.total_mw is not None]
    if node is not None and node.available and points:
        figures = energy.energy_figures(points, phases, frames, "power node: {} every {} ms".format(
            " + ".join(node.describe()["rails"]), node.interval_ms))
        return Energy(**figures), {"kind": "power-node", "node": node.describe(), "samples": len(node_samples)}, []
    points = [(s.t, tegrastats.rails_sum(s.rails_mw, summary.power.total_rails)) for s in samples]
    note = "{} only ({} every {} ms{})".format(summary.source, summary.power.total_method, summary.interval_ms,
                                              "; power node: " + node_note if node_note else "")
    warnings = []
    if node_note and summary.source == "tegrastats":
        warnings.append("power node not used ({}); energy comes from {} samples".format(node_note, summary.source))
    figures = energy.energy_figures(points, phases, frames, note)
    return Energy(**figures), {"kind": summary.source + " only", "node": None, "note": note}, warnings


def _thermal(samples, node_samples, phases, thermal_start, thermal_end, pinned_mhz):
    from espnet_edge.profiler import thermal

    measured = phases.get("measured") or {}
    clocks_seen = [s.gpu_cur_mhz for s in node_samples if measured and measured["start"] <= s.t <= measured["end"]]
    findings = thermal.throttle_findings(thermal_start, thermal_end, pinned_mhz, clocks_seen)
    first = next((s for s in samples if s.temps_c), None)
    last = next((s for s in reversed(samples) if s.temps_c), None)
    gpu_temps = [value for s in stats.in_phase(samples, measured) for name, value in s.temps_c.items()
                 if name.lower() == GPU_SENSOR]
    return Thermal(
        start=thermal_start, end=thermal_end,
        hottest_start=list(tegrastats.hottest(first)) if first else None,
        hottest_end=list(tegrastats.hottest(last)) if last else None,
        throttled=bool(findings), findings=findings,
        gpu_clock_mhz_min=min([c for c in clocks_seen if c] or [None]) if any(clocks_seen) else None,
        gpu_max_c=_max(gpu_temps))


def add_trusted_figures(summary, samples, node, node_samples, node_note, settle, thermal_state, board, pinned_mhz):
    """``summary`` with energy by trapezoidal integration (the power node's samples where it has them),
    idle-baseline validity, thermal state (``thermal_state``: the zones read at the start and the end),
    settling (profile.wait_settled's dict) and the board settings, and the warnings they give."""
    from espnet_edge.profiler import energy as energy_module

    phases = summary.phases
    warnings, missing = list(summary.warnings), list(summary.missing)
    figures, power_source, energy_warnings = _energy(summary, samples, node, node_samples, node_note, phases,
                                                     summary.performance.frames)
    warnings += energy_warnings
    if figures.gross is None:
        missing.append("energy per frame: no power samples cover the measured phase ({})".format(figures.source))
    util = summary.utilisation
    problems = energy_module.idle_baseline_problems(util.gpu_pct.idle, util.cpu_pct.idle, figures.above_idle)
    if problems:
        warnings.append("idle baseline not valid: {}; energy above idle is not trustworthy".format("; ".join(problems)))
    thermal = _thermal(samples, node_samples, phases, thermal_state[0], thermal_state[1], pinned_mhz)
    warnings += ["throttling: " + finding for finding in thermal.findings]
    if not settle["settled"]:
        warnings.append("not settled after {:.1f} s: {}".format(settle["settle_s"], settle["reason"]))
    return summary._replace(
        power=summary.power._replace(source=power_source), energy_mj_per_frame=figures,
        idle_baseline=IdleBaseline(valid=not problems, problems=problems, gpu_pct=util.gpu_pct.idle,
                                   cpu_pct=util.cpu_pct.idle, power_mw=figures.idle_mw),
        thermal=thermal, settle=Settle.make(**settle), board_settings=board, warnings=warnings, missing=missing)
