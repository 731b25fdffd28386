"""The typed records of a profiled run: ``RunSummary`` (what summary.json holds: performance, power,
energy, utilisation, memory, temperatures, thermal state, settling and the run's settings) and
``SummaryRow`` (its figures under load as one row: the sweep's table, sweep.csv, Fig. 7).

summary.json is written by ``RunSummary.to_dict`` and read by ``load_summary`` only; a file written
before a field existed reads it as None, and a value of the wrong type is one line naming the file
and the key. To add a per-run metric: its field here (in its section, and in SummaryRow + ``row`` for
the sweep's table), its value in profiler/summary.py, its line in profiler/report.format_summary.
"""

from typing import Any, Dict, List, Optional

from espnet_edge.errors import UserError
from espnet_edge.utils.records import Record, record_fields
from espnet_edge.utils.textio import read_json

F = Optional[float]


class IdleLoad(Record, record_fields("IdleLoad", [("idle", F), ("load", F)])):
    """Means over the idle baseline and over the measured phase."""
    __slots__ = ()


class RailFigures(Record, record_fields("RailFigures", [("idle", F), ("load", F), ("load_max", F)])):
    __slots__ = ()


class Peak(Record, record_fields("Peak", [("idle", F), ("load_max", F)])):
    """Mean over the idle baseline, highest reading in the measured phase."""
    __slots__ = ()


class Pin(Record, record_fields("Pin", [("requested_mhz", F), ("applied_mhz", F)])):
    """A pinned clock: what was asked for and the table step it runs at."""
    __slots__ = ()


class Performance(Record, record_fields("Performance", [
        ("frames", Optional[int]), ("iterations", Optional[int]), ("batch", Optional[int]),
        ("seconds", F), ("fps", F), ("fps_from_latency", F), ("latency_ms", Optional[Dict[str, float]]),
        ("mode", Optional[str]), ("warmup_frames", Optional[int]),
        ("warmup_start", F), ("warmup_end", F), ("start", F), ("end", F)])):
    """The measured phase: frames over its wall-clock seconds, per-inference latency statistics, and
    the wall-clock (time.time()) bounds of the warm-up and measured phases."""
    __slots__ = ()


class Power(Record, record_fields("Power", [
        ("total_rails", Optional[List[str]]), ("total_method", Optional[str]),
        ("rails_mw", Optional[Dict[str, RailFigures]]), ("total_mw", Optional[IdleLoad]),
        ("gpu_rail", Optional[str]), ("gpu_mw", Optional[IdleLoad]), ("source", Optional[dict])])):
    __slots__ = ()


class Energy(Record, record_fields("Energy", [
        ("method", Optional[str]), ("source", Optional[str]), ("measured_mj", F), ("gross", F),
        ("above_idle", F), ("idle_mw", F), ("measured_mw", F)])):
    """Energy per frame (mJ): the trapezoidal integral of board input power (profiler/energy.py)."""
    __slots__ = ()


class Utilisation(Record, record_fields("Utilisation", [
        ("gpu_pct", Optional[IdleLoad]), ("cpu_pct", Optional[IdleLoad]), ("emc_pct", Optional[IdleLoad]),
        ("gpu_freq_mhz", Optional[IdleLoad]), ("emc_freq_mhz", Optional[IdleLoad]),
        ("cpu_online", Optional[IdleLoad])])):
    __slots__ = ()


class Memory(Record, record_fields("Memory", [
        ("ram_used_mb", Optional[Peak]), ("ram_total_mb", F), ("swap_used_mb_max", F)])):
    __slots__ = ()


class IdleBaseline(Record, record_fields("IdleBaseline", [
        ("valid", Optional[bool]), ("problems", Optional[List[str]]), ("gpu_pct", F), ("cpu_pct", F),
        ("power_mw", F)])):
    __slots__ = ()


class Thermal(Record, record_fields("Thermal", [
        ("start", Optional[dict]), ("end", Optional[dict]),   # {zone: {temp_c, trip_c}} from sysfs
        ("hottest_start", Optional[list]), ("hottest_end", Optional[list]),   # [sensor, degC]
        ("throttled", Optional[bool]), ("findings", Optional[List[str]]),
        ("gpu_clock_mhz_min", F),   # lowest GPU cur_freq the power node read in the measured phase
        ("gpu_max_c", F)])):        # hottest GPU sensor reading in the measured phase
    __slots__ = ()


class Settle(Record, record_fields("Settle", [
        ("settled", Optional[bool]), ("settle_s", F), ("clock_mhz", F), ("reason", Optional[str]),
        ("window_s", F)])):
    __slots__ = ()


class RunSummary(Record, record_fields("RunSummary", [
        ("source", Optional[str]), ("interval_ms", F), ("samples", Optional[int]),
        ("samples_per_phase", Optional[Dict[str, int]]),
        ("performance", Optional[Performance]), ("power", Optional[Power]),
        ("energy_mj_per_frame", Optional[Energy]), ("utilisation", Optional[Utilisation]),
        ("memory", Optional[Memory]), ("temps_c", Optional[Dict[str, Peak]]),
        ("missing", Optional[List[str]]), ("phases", Optional[Dict[str, Dict[str, float]]]),
        ("warnings", Optional[List[str]]), ("idle_baseline", Optional[IdleBaseline]),
        ("thermal", Optional[Thermal]), ("settle", Optional[Settle]),
        # the run's settings: board state, pinned clocks, names, the runner
        ("board_settings", Optional[dict]), ("emc_pin", Optional[Pin]), ("run", Optional[str]),
        ("label", Optional[str]), ("gpu_freq", Optional[Pin]), ("runner", Optional[dict]),
        ("folder", Any)])):
    """One profiled run (summary.json). ``folder``: where its files are, in memory only."""
    __slots__ = ()
    TRANSIENT = ("folder",)

    @property
    def pinned_mhz(self):
        """The GPU clock the run was pinned at (the applied step, else the requested one), or None."""
        pin = self.gpu_freq
        return (pin.applied_mhz or pin.requested_mhz) if pin else None

    @property
    def gpu_clock_seen_mhz(self):
        """The GPU clock read under load: tegrastats' GR3D mean, else the lowest cur_freq the power
        node read in the measured phase; None when neither was read."""
        return _at(self.utilisation, "gpu_freq_mhz", "load") or _at(self.thermal, "gpu_clock_mhz_min")

    def row(self):
        """This run's SummaryRow."""
        perf = self.performance or Performance.make()
        energy = self.energy_mj_per_frame or Energy.make()
        return SummaryRow(
            label=self.label, freq_mhz=self.pinned_mhz, fps=perf.fps,
            exec_ms=1000.0 / perf.fps if perf.fps else None, latency_ms=(perf.latency_ms or {}).get("mean"),
            frames=perf.frames, seconds=perf.seconds,
            power_idle_mw=_at(self.power, "total_mw", "idle"), power_load_mw=_at(self.power, "total_mw", "load"),
            gpu_power_load_mw=_at(self.power, "gpu_mw", "load"),
            energy_mj=energy.gross, energy_above_idle_mj=energy.above_idle,
            gpu_util_pct=_at(self.utilisation, "gpu_pct", "load"), cpu_util_pct=_at(self.utilisation, "cpu_pct", "load"),
            emc_util_pct=_at(self.utilisation, "emc_pct", "load"), gpu_clock_seen_mhz=self.gpu_clock_seen_mhz,
            run=self.run, power_method=_at(self.power, "total_method"), energy_source=energy.source,
            settle_s=_at(self.settle, "settle_s"), throttled=_at(self.thermal, "throttled"),
            idle_baseline_valid=_at(self.idle_baseline, "valid"),
            gpu_temp_max_c=_at(self.thermal, "gpu_max_c"))


def _at(record, *names):
    """record.name1.name2..., None where a section is missing (files written before it existed)."""
    for name in names:
        if record is None:
            return None
        record = getattr(record, name)
    return record


class SummaryRow(Record, record_fields("SummaryRow", [
        ("label", Optional[str]), ("freq_mhz", F),   # the pinned GPU clock (None: not pinned)
        ("fps", F), ("exec_ms", F),                  # exec_ms = 1000 / fps: the execution time per frame
        ("latency_ms", F),                           # mean
        ("frames", Optional[int]), ("seconds", F),
        ("power_idle_mw", F), ("power_load_mw", F), ("gpu_power_load_mw", F),
        ("energy_mj", F), ("energy_above_idle_mj", F),   # per frame
        ("gpu_util_pct", F), ("cpu_util_pct", F), ("emc_util_pct", F), ("gpu_clock_seen_mhz", F),
        ("run", Optional[str]), ("power_method", Optional[str]), ("energy_source", Optional[str]),
        ("settle_s", F), ("throttled", Optional[bool]), ("idle_baseline_valid", Optional[bool]),
        ("gpu_temp_max_c", F)])):
    """One profiled run's figures under load (``RunSummary.row``); the sweep's CSV columns are its fields."""
    __slots__ = ()


def read_summary_json(path):
    """The parsed summary.json; one UserError line for a file that cannot be read or is no summary."""
    data = read_json(path)  # one line for unreadable bytes, bad JSON or a non-object
    if "performance" not in data or "power" not in data:
        raise UserError("{} is not a summary written by espnet-edge profile (no performance or power); give "
                        "the folders `espnet-edge profile` or `sweep` wrote".format(path))
    return data


def load_summary(path, folder=None):
    """summary.json -> RunSummary; one UserError line for a file that cannot be read or a value of the
    wrong type (naming the file and the key)."""
    return RunSummary.from_dict(read_summary_json(path), source=path, folder=folder)
