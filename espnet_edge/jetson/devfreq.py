"""The GPU's devfreq entry: what it reads, the writes that pin or restore it, and what a read-back means.

Pinning = the same table value in min_freq and max_freq, written in an order that never leaves min > max
(a 4.9 kernel rejects that), with the governor set to "performance" when the kernel offers it. Both
kernel generations are verified by read-back; what a mismatch means follows boards.KERNEL_SEMANTICS.
"""

import logging
import os
import time

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clock_state, detect, nvpmodel, sysfs
from espnet_edge.jetson.freq_table import fmt_mhz, mhz
from espnet_edge.jetson.sysfs_writer import say

logger = logging.getLogger(__name__)

LABEL = "GPU clock"
NOT_JETSON = "not a Jetson (no GPU devfreq under /sys/class/devfreq): --freq needs a Jetson board"
PIN_GOVERNOR = "performance"
RAIL_WAKE_TIMEOUT_S = 2.0   # a rail-gated GPU's devfreq node appears within this after railgate_enable := 0
UDEV_EXAMPLE = ('SUBSYSTEM=="devfreq", KERNEL=="{name}", '
                'RUN+="/bin/chmod 0666 /sys%p/min_freq /sys%p/max_freq /sys%p/governor"')


def read_int(path):
    text = sysfs.read_text(path)
    if text is None:
        if os.path.exists(path):
            raise UserError("cannot read {}: permission denied or not a file; run with sudo".format(
                sysfs.unprefix(path)))
        raise UserError("{} is missing: this kernel's GPU devfreq lacks it, cannot pin the clock".format(
            sysfs.unprefix(path)))
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise UserError("{} holds {!r}, not a frequency in Hz".format(sysfs.unprefix(path), text))


def read_cur_hz(gpu):
    """cur_freq in Hz, or None when it is missing or not a number."""
    return sysfs.read_hz(gpu.file("cur_freq"))


class GpuState(object):
    """What one devfreq entry reads now."""

    def __init__(self, gpu):
        self.gpu = gpu
        table_text = sysfs.read_text(gpu.file("available_frequencies"))
        if table_text is None:
            read_int(gpu.file("available_frequencies"))  # raises the missing/unreadable error
        try:
            self.table = sorted(set(int(v) for v in table_text.split()))
        except ValueError:
            raise UserError("{} is not a list of Hz values".format(
                sysfs.unprefix(gpu.file("available_frequencies"))))
        self.min_hz = read_int(gpu.file("min_freq"))
        self.max_hz = read_int(gpu.file("max_freq"))
        self.cur_hz = read_cur_hz(gpu)
        self.governor = sysfs.read_text(gpu.file("governor"))
        self.governors = (sysfs.read_text(gpu.file("available_governors")) or "").split()

    @property
    def wants_governor(self):
        """A pin sets the performance governor where the kernel offers it and it is not set yet."""
        return PIN_GOVERNOR in self.governors and self.governor != PIN_GOVERNOR

    def record(self):
        """As clock_state saves it."""
        return clock_state.record(self.gpu, self.min_hz, self.max_hz, self.governor)

    def to_dict(self):
        return {"devfreq": sysfs.unprefix(self.gpu.freq_dir), "node": self.gpu.node_name,
                "governor": self.governor, "available_governors": self.governors,
                "available_mhz": [mhz(hz) for hz in self.table], "min_mhz": mhz(self.min_hz),
                "max_mhz": mhz(self.max_hz), "cur_mhz": mhz(self.cur_hz) if self.cur_hz is not None else None}


def plan_minmax_writes(cur_min, cur_max, new_min, new_max):
    """Writes [(file, Hz)] taking (cur_min, cur_max) to (new_min, new_max) with min <= max after each one.

    Going down (new_min <= cur_max) write min first, then max; going up write max first, then min."""
    if new_min > new_max:
        raise ValueError("target min {} > max {}".format(new_min, new_max))
    if new_min <= cur_max:
        writes = [("min_freq", new_min, cur_min), ("max_freq", new_max, cur_max)]
    else:
        writes = [("max_freq", new_max, cur_max), ("min_freq", new_min, cur_min)]
    return [(name, value) for name, value, now in writes if value != now]


def put_back(gpu, saved_record, writer, now=None):
    """Write one saved record (clock_state.record) back to ``gpu``: min/max in a safe order, then the
    governor. ``now``: (min, max, governor) the files hold, when not read from them (a dry run)."""
    if now is None:
        now = (read_int(gpu.file("min_freq")), read_int(gpu.file("max_freq")),
               sysfs.read_text(gpu.file("governor")))
    for name, value in plan_minmax_writes(now[0], now[1], saved_record["min_freq"], saved_record["max_freq"]):
        writer.write(gpu.file(name), value)
    governor = saved_record.get("governor")
    if governor and now[2] != governor:
        writer.write(gpu.file("governor"), governor)


def gpus_by_devfreq(info, records):
    """[(gpu, record)] for saved records; UserError when one names a devfreq this board lacks."""
    by_dir = dict((sysfs.unprefix(gpu.freq_dir), gpu) for gpu in info.gpus)
    pairs = []
    for saved_record in records:
        gpu = by_dir.get(saved_record["devfreq"])
        if gpu is None:
            raise UserError("{} names {} but this board has no such GPU devfreq; {}".format(
                clock_state.STATE_PATH, saved_record["devfreq"], clock_state.RESET_HINT))
        pairs.append((gpu, saved_record))
    return pairs


def write_access_error(paths, gpu):
    """A UserError saying how to grant write access to the first of ``paths`` we cannot write, or None."""
    for path in paths:
        if not os.access(path, os.W_OK):
            return UserError("no write permission on {}: run with sudo, or let your user write the GPU devfreq "
                             "files with a udev rule such as /etc/udev/rules.d/99-espnet-edge-gpu.rules: {} "
                             "(see docs/jetson.md)".format(sysfs.unprefix(path), UDEV_EXAMPLE.format(name=gpu.name)))
    return None


def mode_cap_error(applied_hz, table, kernel=None):
    """(UserError or None, nvpmodel mode): is ``applied_hz`` above the current nvpmodel mode's GPU cap?"""
    mode = nvpmodel.current_mode()
    if not mode or mode.get("gpu_max_hz") is None:
        return None, mode
    cap = nvpmodel.effective_cap_hz(mode["gpu_max_hz"], table, kernel)
    if applied_hz <= cap:
        return None, mode
    better = nvpmodel.modes_reaching(applied_hz, table, kernel)
    switch = ("sudo nvpmodel -m {} ({})".format(better[0][0], better[0][1]) if better
              else "sudo nvpmodel -m <mode> with a higher GPU cap")
    how = ("holds a GPU max request of {} (kernel >= 5.10: the effective maximum is the highest step not above "
           "it, {})".format(fmt_mhz(mode["gpu_max_hz"]), fmt_mhz(cap)) if kernel == boards.KERNEL_PM_QOS
           else "caps the GPU at {} (nvpmodel sets max_freq there, rounded up to a table step)".format(fmt_mhz(cap)))
    return UserError("nvpmodel mode {} ({}) {}, so {} is unreachable: choose <= {} or switch mode: {}".format(
        mode["id"], mode["name"], how, fmt_mhz(applied_hz), fmt_mhz(cap), switch)), mode


def readback_problem(low, high, target, kernel):
    """None when min_freq/max_freq read back the pin; else a one-line reason. Both kernel generations are
    verified the same way (by read-back); what the reason says follows boards.KERNEL_SEMANTICS: on 4.9 a
    write the kernel did not take fails, on 5.10+ a write is a PM-QoS request and the files show the
    effective range, min clamped to max by other requests (nvpmodel, thermal)."""
    if low == target and high == target:
        return None
    if kernel == boards.KERNEL_PM_QOS:
        return ("the GPU devfreq reads min {} / max {} after requesting {}: on this kernel (>= 5.10) min/max "
                "writes are requests and another one (an nvpmodel cap or a thermal limit) holds the range; "
                "check sudo nvpmodel -q".format(fmt_mhz(low), fmt_mhz(high), fmt_mhz(target)))
    return ("the kernel clamped the GPU clock to min {} / max {} instead of {} (a power-mode or thermal cap: "
            "check sudo nvpmodel -q)".format(fmt_mhz(low), fmt_mhz(high), fmt_mhz(target)))


def detect_or_power_up(writer, log, dry_run=False, wait_s=RAIL_WAKE_TIMEOUT_S):
    """detect.detect(); when no GPU devfreq is registered but a rail-gated Jetson GPU is found by its
    of_node, power it up once (railgate_enable := 0, then the old value back) so the devfreq node appears.
    One-line UserError when that is not possible."""
    info = detect.detect()
    if info.is_jetson:
        return info
    gated = detect.find_gated_gpu()
    if gated is None:
        raise UserError(NOT_JETSON)
    rail = gated.railgate_file
    if not os.path.exists(rail) or not os.access(rail, os.W_OK) or dry_run:
        raise UserError("found the Jetson GPU {} but its devfreq node is not registered (rail-gated since boot); "
                        "run once with sudo so espnet-edge can power it up through railgate_enable, or run any "
                        "CUDA program first".format(gated.describe()))
    before = sysfs.read_text(rail) or "1"
    say(log, LABEL, "GPU {} is rail-gated since boot (no devfreq node yet): powering it up once".format(
        gated.describe()), logger)
    writer.write(rail, "0")
    deadline = time.time() + wait_s
    try:
        while time.time() < deadline:
            info = detect.detect()
            if info.is_jetson:
                return info
            time.sleep(0.05)
    finally:
        if before != "0":
            writer.write(rail, before)
    raise UserError("powered up the GPU {} but no devfreq node appeared in {:.0f} s; check dmesg".format(
        gated.describe(), wait_s))
