"""Figures from timestamped samples: phase selection, means per rail (energy: profiler/energy.py)."""

from espnet_edge.profiler import tegrastats


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / float(len(values)) if values else None


def in_phase(samples, phase):
    """Samples that arrived inside [start, end] of ``phase`` (a dict with start/end, epoch seconds)."""
    if not phase:
        return []
    return [s for s in samples if phase["start"] <= s.t <= phase["end"]]


def total_rails(samples):
    """(rails that make the total, how it was decided) for the rails these samples carry."""
    names = set()
    for sample in samples:
        names.update(sample.rails_mw)
    if names and all(n.startswith(("NVML_", "RAPL_")) for n in names):
        rails = sorted(names)
        return rails, "host: sum of {} (GPU board power via NVML and CPU package via RAPL; " \
                      "not wall power)".format("+".join(rails))
    return tegrastats.total_power_rails(names)


def total_power(sample, rails):
    """Sum of the rails' current readings (mW); None if any is missing in this sample."""
    return tegrastats.rails_sum(sample.rails_mw, rails)


def rail_means(samples, name):
    return mean(s.rails_mw.get(name, {}).get("current") for s in samples)


def gpu_freq(sample):
    """The first GPU cluster's frequency in MHz (None when not printed)."""
    freqs = [f for f in sample.gpu_freq_mhz if f is not None]
    return freqs[0] if freqs else None
