"""Energy from timestamped power samples: the trapezoidal integral of board input power over a phase,
per frame, and the checks that say when an idle baseline (and so an energy above idle) cannot be trusted."""

IDLE_GPU_LOAD_MAX_PCT = 10.0   # an idle baseline busier than this is not idle
IDLE_CPU_LOAD_MAX_PCT = 25.0


def _interpolate(t0, p0, t1, p1, t):
    if t1 == t0:
        return p0
    return p0 + (p1 - p0) * (t - t0) / (t1 - t0)


def integrate_mj(points, start, end):
    """Trapezoidal integral (mJ = mW x s) of the piecewise-linear power through ``points`` [(t s, mW)]
    over [start, end]; values at the bounds are interpolated between the neighbouring samples.
    None unless samples exist on both sides of (or at) each bound."""
    pts = sorted((t, p) for t, p in points if p is not None)
    if len(pts) < 2 or end <= start or pts[0][0] > start or pts[-1][0] < end:
        return None
    inside = [(t, p) for t, p in pts if start < t < end]
    before = [pt for pt in pts if pt[0] <= start][-1]
    after_start = next(pt for pt in pts if pt[0] > start) if any(pt[0] > start for pt in pts) else before
    first = (start, _interpolate(before[0], before[1], after_start[0], after_start[1], start))
    last_before = [pt for pt in pts if pt[0] < end][-1]
    after = next(pt for pt in pts if pt[0] >= end)
    final = (end, _interpolate(last_before[0], last_before[1], after[0], after[1], end))
    curve = [first] + inside + [final]
    return sum((t1 - t0) * (p0 + p1) / 2.0 for (t0, p0), (t1, p1) in zip(curve, curve[1:]))


def mean_power_mw(points, start, end):
    """Time-weighted mean power over [start, end] (the integral / the duration), or None."""
    energy = integrate_mj(points, start, end)
    return energy / (end - start) if energy is not None else None


def energy_figures(points, phases, frames, source_note):
    """{'method', 'source', 'measured_mj', 'gross', 'above_idle', 'idle_mw', 'measured_mw'} from
    [(t, total mW)] and the phases; energies per frame in mJ."""
    measured, idle = phases.get("measured"), phases.get("idle")
    result = {"method": "trapezoidal integral of board input power over the measured phase / frames",
              "source": source_note, "measured_mj": None, "gross": None, "above_idle": None,
              "idle_mw": None, "measured_mw": None}
    if not measured or not frames:
        return result
    total = integrate_mj(points, measured["start"], measured["end"])
    if total is None:
        return result
    seconds = measured["end"] - measured["start"]
    result["measured_mj"] = total
    result["measured_mw"] = total / seconds
    result["gross"] = total / float(frames)
    if idle and idle["end"] > idle["start"]:
        result["idle_mw"] = mean_power_mw(points, idle["start"], idle["end"])
        if result["idle_mw"] is None:   # too few fast samples: fall back to the plain mean of what arrived
            values = [p for t, p in points if idle["start"] <= t <= idle["end"] and p is not None]
            result["idle_mw"] = sum(values) / float(len(values)) if values else None
    if result["idle_mw"] is not None:
        result["above_idle"] = (total - result["idle_mw"] * seconds) / float(frames)
    return result


def idle_baseline_problems(gpu_load_pct, cpu_load_pct, above_idle_mj):
    """Reasons the idle baseline is not a valid zero for 'energy above idle' (empty list when it is)."""
    problems = []
    if gpu_load_pct is not None and gpu_load_pct > IDLE_GPU_LOAD_MAX_PCT:
        problems.append("GPU load {:.0f}% during the idle baseline (> {:.0f}%)".format(
            gpu_load_pct, IDLE_GPU_LOAD_MAX_PCT))
    if cpu_load_pct is not None and cpu_load_pct > IDLE_CPU_LOAD_MAX_PCT:
        problems.append("CPU load {:.0f}% during the idle baseline (> {:.0f}%)".format(
            cpu_load_pct, IDLE_CPU_LOAD_MAX_PCT))
    if above_idle_mj is not None and above_idle_mj < 0:
        problems.append("energy above idle is negative ({:.2f} mJ): the board drew more power while 'idle' "
                        "than while running".format(above_idle_mj))
    return problems
