"""Board power straight from the power-monitor nodes (INA3221 IIO/hwmon, Thor's INA238), plus the GPU's
devfreq cur_freq, sampled at a user-set rate on a thread.

Node locations and units come from jetson/boards.py (POWER_NODE_DIRS); which rails make the board's input
power comes from boards.total_power_rule, the same rule the tegrastats parser uses. Every record is stamped
with time.time() right after its reads: the clock the benchmark stamps each frame with.
"""

import glob
import os

from espnet_edge import defaults
from espnet_edge.jetson import boards, sysfs
from espnet_edge.profiler import tegrastats
from espnet_edge.profiler.sample import Sample, empty_fields
from espnet_edge.profiler.samplers import _PollingSampler

DEFAULT_INTERVAL_MS = defaults.POWER_INTERVAL_MS


class RailNode(object):
    """One rail: ``files`` are prefixed paths; ``read_mw()`` -> mW or None."""

    def __init__(self, name, kind, files):
        self.name = name
        self.kind = kind      # "mw" (ina3221x in_power), "mv_ma" (ina3221 hwmon), "uw" (ina238 power1_input)
        self.files = files

    def read_mw(self):
        values = []
        for path in self.files:
            text = sysfs.read_text(path)
            if text is None or not text.lstrip("-").isdigit() or len(text) > 12:
                return None
            values.append(int(text))
        if self.kind == "mw":
            return values[0]
        if self.kind == "mv_ma":
            return values[0] * values[1] / 1000.0
        return values[0] / 1000.0

    def describe(self):
        return "{} ({})".format(self.name, ", ".join(sysfs.unprefix(p) for p in self.files))


def find_rails():
    """Every rail node the drivers expose here, by label."""
    dirs = boards.value_of(boards.POWER_NODE_DIRS)
    rails = {}
    # 'iio:deviceN' on L4T 32; 'iio_device' on L4T 27/28 (sysfs.md §6: hoony9x, JonghoKim-Harry TX2 paths)
    for folder in sorted(glob.glob(os.path.join(sysfs.path(dirs[boards.INA3221X]), "*", "iio*device*"))):
        for label_file in sorted(glob.glob(os.path.join(folder, "rail_name_*"))):
            index = label_file.rsplit("_", 1)[1]
            name = sysfs.read_text(label_file)
            if name:
                rails.setdefault(name, RailNode(name, "mw", [os.path.join(folder, "in_power{}_input".format(index))]))
    for folder in sorted(glob.glob(os.path.join(sysfs.path(dirs[boards.INA3221]), "*", "hwmon", "hwmon*"))):
        for label_file in sorted(glob.glob(os.path.join(folder, "in*_label"))):
            index = os.path.basename(label_file)[2:-len("_label")]
            name = sysfs.read_text(label_file)
            if name and name != "NC" and index.isdigit():
                rails.setdefault(name, RailNode(name, "mv_ma", [os.path.join(folder, "in{}_input".format(index)),
                                                                os.path.join(folder, "curr{}_input".format(index))]))
    for folder in sorted(glob.glob(os.path.join(sysfs.path(dirs[boards.INA238]), "hwmon*"))):
        if sysfs.read_text(os.path.join(folder, "name")) == boards.INA238:
            name = sysfs.read_text(os.path.join(folder, "in1_label")) or "VIN"
            rails.setdefault(name, RailNode(name, "uw", [os.path.join(folder, "power1_input")]))
    return rails


def input_rails(rails):
    """-> ([RailNode] making the board's input power, how) by boards.total_power_rule."""
    names, how, _source = boards.total_power_rule(rails)
    return [rails[name] for name in names if name in rails], how


class PowerNodeSampler(_PollingSampler):
    """Reads the board's input rail(s) and the GPU's cur_freq every ``interval_ms``.

    Records: ``rails_mw`` (the input rails), ``total_mw``, ``gpu_cur_mhz``, ``t``. ``available`` False (with
    ``reason``) when no readable power node was found; cur_freq alone is still sampled when it exists."""

    source = "power-node"

    def __init__(self, interval_ms=DEFAULT_INTERVAL_MS, gpu_cur_file=None):
        _PollingSampler.__init__(self, interval_ms)
        self.gpu_cur_file = gpu_cur_file
        self.rails = []
        self.how = None
        self.reason = None

    @property
    def available(self):
        return bool(self.rails)

    def open(self):
        rails = find_rails()
        chosen, how = input_rails(rails)
        readable = [rail for rail in chosen if rail.read_mw() is not None]
        if not rails:
            self.reason = "no INA3221/INA238 power node found under {}".format(
                ", ".join(sorted(boards.value_of(boards.POWER_NODE_DIRS).values())))
        elif len(readable) < len(chosen) or not chosen:
            self.reason = "power node {} unreadable (permissions?)".format(
                ", ".join(rail.describe() for rail in chosen) or "for the input rail")
        else:
            self.rails, self.how = chosen, how

    def read(self):
        record = empty_fields()
        for rail in self.rails:
            value = rail.read_mw()
            if value is not None:
                record["rails_mw"][rail.name] = {"current": value, "average": None}
        record["total_mw"] = tegrastats.rails_sum(record["rails_mw"], [rail.name for rail in self.rails])
        record["total_rails"] = [rail.name for rail in self.rails]
        if self.gpu_cur_file:
            hz = sysfs.read_hz(self.gpu_cur_file)
            record["gpu_cur_mhz"] = hz / 1e6 if hz is not None else None
        if record["total_mw"] is None and record["gpu_cur_mhz"] is None:
            return None
        return Sample(**record)

    def describe(self):
        if not self.rails:
            return None
        return {"rails": [rail.describe() for rail in self.rails], "how": self.how,
                "interval_ms": self.interval_ms, "clock": "time.time() (the clock of the per-frame timestamps)"}
