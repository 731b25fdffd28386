"""The profiler's sample: one reading of the board, whichever sampler took it.

The tegrastats parser, the jtop, host and power-node samplers all make ``Sample`` records, and
summary, stats, energy, report and profile read them. Fields (None / empty where the source has no
such figure; tegrastats' line formats are in profiler/tegrastats.py):

  time              tegrastats' own timestamp 'YYYY-MM-DDTHH:MM:SS' (JetPack >= 5 prints one)
  ram_used_mb, ram_total_mb, lfb           RAM (lfb: largest free block text, e.g. '3x4MB')
  swap_used_mb, swap_total_mb, swap_cached_mb
  iram_used_kb, iram_total_kb
  cpu               per core: {"load_pct", "freq_mhz"}, or None for an offline core; None: not printed
  gpu_load_pct      the first GPU cluster's load (GR3D_FREQ)
  gpu_loads_pct     every cluster's load; gpu_freq_mhz every cluster's clock(s) (None: off)
  emc_load_pct, emc_freq_mhz               the memory controller
  engines           {name: {"on", "load_pct", "freq_mhz"}} (APE, NVENC, NVDEC, DLA, ...)
  mts_fg_pct, mts_bg_pct, edp_limit_mhz
  temps_c           {sensor: degC, None when the sensor is off}; temps_max_c the peaks JetPack 7 prints
  rails_mw          {rail: {"current", "average"[, "max"]}} in mW
  total_mw          the board's input power of this sample, made from ``total_rails`` as ``total_how``
                    says (jetson/boards.py's rule)
  unknown           tokens the parser did not understand (never dropped silently)
  t                 arrival time (time.time(), seconds since the epoch), set by the sampler
  gpu_cur_mhz       the GPU's devfreq cur_freq (power-node sampler only)

``to_dict`` / ``from_dict`` give the JSON object `espnet-edge tegrastats --json` has always printed
(``t`` and ``gpu_cur_mhz`` only when set).
"""

from typing import Any, Dict, List, NamedTuple, Optional

# (field, type, empty value) in the order of the JSON object; containers are made fresh per sample
_LAYOUT = (
    ("time", Optional[str], None),
    ("ram_used_mb", Optional[float], None), ("ram_total_mb", Optional[float], None), ("lfb", Optional[str], None),
    ("swap_used_mb", Optional[float], None), ("swap_total_mb", Optional[float], None),
    ("swap_cached_mb", Optional[float], None),
    ("iram_used_kb", Optional[int], None), ("iram_total_kb", Optional[int], None),
    ("cpu", Optional[List[Optional[Dict[str, Any]]]], None),
    ("gpu_load_pct", Optional[float], None), ("gpu_loads_pct", List[Optional[float]], list),
    ("gpu_freq_mhz", List[Optional[int]], list),
    ("emc_load_pct", Optional[float], None), ("emc_freq_mhz", Optional[int], None),
    ("engines", Dict[str, Dict[str, Any]], dict),
    ("mts_fg_pct", Optional[float], None), ("mts_bg_pct", Optional[float], None),
    ("edp_limit_mhz", Optional[int], None),
    ("temps_c", Dict[str, Optional[float]], dict), ("temps_max_c", Dict[str, Optional[float]], dict),
    ("rails_mw", Dict[str, Dict[str, Optional[float]]], dict),
    ("total_mw", Optional[float], None), ("total_rails", List[str], list), ("total_how", Optional[str], None),
    ("unknown", List[str], list),
    ("t", Optional[float], None),
    ("gpu_cur_mhz", Optional[float], None),
)
_SET_ONLY = ("t", "gpu_cur_mhz")  # in the JSON object only when a sampler set them


def empty_fields():
    """A fresh, mutable {field: empty value} for a parser or sampler to fill, then ``Sample(**fields)``."""
    return dict((name, empty() if callable(empty) else empty) for name, _type, empty in _LAYOUT)


class Sample(NamedTuple("Sample", [(name, kind) for name, kind, _empty in _LAYOUT])):
    """One reading of the board (fields in the module docstring)."""
    __slots__ = ()

    @classmethod
    def empty(cls):
        return cls(**empty_fields())

    def to_dict(self):
        data = dict(self._asdict())
        for name in _SET_ONLY:
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data):
        """A sample from its JSON object; absent fields are empty, unknown keys are a ValueError."""
        unknown = sorted(set(data) - set(cls._fields))
        if unknown:
            raise ValueError("not sample fields: " + ", ".join(unknown))
        fields = empty_fields()
        fields.update(data)
        return cls(**fields)
