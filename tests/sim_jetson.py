"""Simulated Jetson sysfs trees for tests, built from the sourced facts in ../shared/jetson/sysfs.md.

    paths = make_board_tree(tmp_path, board="tx2", release="32.7.1", cur_mhz=1300.5,
                            governor="nvhost_podgov", nvpmodel_mode=0)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"]}

Layout as on real kernels: the device directory holds devfreq/<name>/ (min_freq, max_freq, cur_freq,
governor, available_frequencies, available_governors), /sys/class/devfreq/<name> is a relative symlink to
it, <entry>/device links back to the device whose of_node/name is the GPU node name (NUL-terminated).
Plain files cannot refuse writes, so ``SimKernel`` (a SysfsWriter hook) plays the devfreq kernel in-process
and records every write: on L4T <= 32 (kernel 4.9) it rejects min > max with EINVAL; on L4T >= 34 (5.10+)
writes are PM-QoS requests (never EINVAL), the files read back the effective range (min clamped to max),
as boards.KERNEL_SEMANTICS says. Every table, cap, rail and path comes from jetson/boards.py; what is
simulated (not sourced): the values in cur_freq, load and the power-monitor readings.
"""

import errno
import json
import os

from espnet_edge.jetson import boards

GOVERNORS = "wmark_active wmark_simple nvhost_podgov userspace performance simple_ondemand"

# board -> which of boards.py's devfreq_dirs is the real device (the others become alias links where they
# differ), the of_node name, extra alias links, identity strings and the i2c bus of its power monitors
# (sysfs.md §1, §6, §7). Thor's devfreq fact is the class path, so its device dir is given here.
LAYOUTS = {
    "tx2": {"devfreq_index": 1, "node": "gp10b", "aliases": ("/sys/devices/gpu.0",), "model": "quill",
            "compatible": ("nvidia,p2771-0000", "nvidia,tegra186"), "i2c_bus": 0},
    "tx2-nx": {"devfreq_index": 1, "node": "gp10b", "aliases": ("/sys/devices/gpu.0",),
               "model": "NVIDIA Jetson TX2 NX Developer Kit",
               "compatible": ("nvidia,p3509-0000+p3636-0001", "nvidia,tegra186"), "i2c_bus": 0},
    "nano": {"devfreq_index": 1, "node": "gpu", "aliases": ("/sys/devices/gpu.0",),
             "model": "NVIDIA Jetson Nano Developer Kit",
             "compatible": ("nvidia,p3450-0000", "nvidia,jetson-nano", "nvidia,tegra210"), "i2c_bus": 6},
    "tx1": {"devfreq_index": 0, "node": "gm20b", "aliases": ("/sys/devices/gpu.0",), "model": "jetson_tx1",
            "compatible": ("nvidia,p2371-2180", "nvidia,tegra210"), "i2c_bus": 1},
    "xavier-nx": {"devfreq_index": 1, "node": "gv11b", "aliases": ("/sys/devices/gpu.0",),
                  "model": "NVIDIA Jetson Xavier NX Developer Kit",
                  "compatible": ("nvidia,p3449-0000+p3668-0000", "nvidia,tegra194"), "i2c_bus": 7},
    "agx-xavier": {"devfreq_index": 0, "node": "gv11b", "aliases": ("/sys/devices/gpu.0",), "model": "Jetson-AGX",
                   "compatible": ("nvidia,p2972-0000", "nvidia,tegra194"), "i2c_bus": 1},
    "agx-orin": {"devfreq_index": 0, "node": "ga10b", "aliases": ("/sys/devices/gpu.0", "/sys/devices/platform/gpu.0"),
                 "model": "Jetson AGX Orin",
                 "compatible": ("nvidia,p3737-0000+p3701-0000", "nvidia,tegra234"), "i2c_bus": 1},
    "orin-nano": {"devfreq_index": 0, "node": "gpu", "aliases": ("/sys/devices/platform/gpu.0",),
                  "model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
                  "compatible": ("nvidia,p3768-0000+p3767-0005-super", "nvidia,p3767-0005", "nvidia,tegra234"),
                  "i2c_bus": 1},
    "orin-nx": {"devfreq_index": 0, "node": "gpu", "aliases": ("/sys/devices/platform/gpu.0",),
                "model": "NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
                "compatible": ("nvidia,p3768-0000+p3767-0000", "nvidia,p3767-0000", "nvidia,tegra234"),
                "i2c_bus": 1},
    "thor": {"device": "/sys/devices/platform/gpu-gpc-0", "entry": "gpu-gpc-0", "node": None,
             "aliases": (), "model": "NVIDIA Jetson AGX Thor Developer Kit",
             "compatible": ("nvidia,p3834-0008", "nvidia,tegra264"), "i2c_bus": 1},
}


def gpu_device(board):
    """(device dir, devfreq entry name) of ``board`` in the simulated tree, from boards.py's devfreq facts."""
    layout = LAYOUTS[board]
    if "device" in layout:
        return layout["device"], layout["entry"]
    devfreq_dir = boards.value_of(boards.by_key(board).devfreq_dirs)[layout["devfreq_index"]]
    device, entry = devfreq_dir.split("/devfreq/")
    return device, entry


NV_TEGRA_RELEASE = {
    "28.2": "# R28 (release), REVISION: 2.0, GCID: 10567845, BOARD: t186ref, EABI: aarch64, DATE: Fri Mar  2 04:57:01 UTC 2018",
    "32.7.1": "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022",
    "32.7.3": "# R32 (release), REVISION: 7.3, GCID: 31982016, BOARD: t210ref, EABI: aarch64, DATE: Tue Nov 22 17:30:08 UTC 2022",
    "35.2.1": "# R35 (release), REVISION: 2.1, GCID: 32413640, BOARD: t186ref, EABI: aarch64, DATE: Tue Jan 24 23:38:33 UTC 2023",
    "36.4.4": "# R36 (release), REVISION: 4.4, GCID: 41062509, BOARD: generic, EABI: aarch64, DATE: Mon Jun 16 16:07:13 UTC 2025",
    "38.4.0": "# R38 (release), REVISION: 4.0, GCID: 43443517, BOARD: generic, EABI: aarch64, DATE: Wed Dec 31 00:15:19 UTC 2025",
}
# Boards print the leading '# ' on every release (sysfs.md §7a quotes R36/R38 without it; the parser
# reads both); recent releases add a second line.
KERNEL_VARIANT_LINE = "# KERNEL_VARIANT: oot"


def _write(root, board_path, text):
    real = os.path.join(str(root), board_path.lstrip("/"))
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    with open(real, "w") as handle:
        handle.write(text)
    return real


def _link(root, board_link, board_target):
    """Relative symlink at board_link -> board_target, both board paths inside ``root``."""
    real_link = os.path.join(str(root), board_link.lstrip("/"))
    real_target = os.path.join(str(root), board_target.lstrip("/"))
    folder = os.path.dirname(real_link)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    os.symlink(os.path.relpath(real_target, folder), real_link)
    return real_link


def nvpmodel_conf_text(board, release=None):
    """An /etc/nvpmodel.conf in NVIDIA's PARAM/POWER_MODEL format with the board's sourced GPU caps for
    ``release`` (nearest generation)."""
    facts = boards.nvpmodel_modes(board, release)
    devfreq_dir = boards.value_of(board.devfreq_dirs)[0]
    lines = ["< PARAM TYPE=CLOCK NAME=GPU >",
             "FREQ_TABLE {}/available_frequencies".format(devfreq_dir),
             "MAX_FREQ {}/max_freq".format(devfreq_dir),
             "MIN_FREQ {}/min_freq".format(devfreq_dir), ""]
    for mode_id, (name, cap) in sorted(facts["modes"].items()):
        lines += ["< POWER_MODEL ID={} NAME={} >".format(mode_id, name), "GPU MIN_FREQ 0"]
        if cap != boards.UNKNOWN_CAP:   # a cap no source gives is left out, not invented
            lines.append("GPU MAX_FREQ {}".format(cap if cap is not None else -1))
        lines.append("")
    if facts.get("default") is not None:
        lines.append("< PM_CONFIG DEFAULT={} >".format(facts["default"]))
    return "\n".join(lines) + "\n"


def make_board_tree(root, board="tx2", release="32.7.1", cur_mhz=None, governor="nvhost_podgov",
                    nvpmodel_mode=None, table_hz=None, min_hz=None, max_hz=None, governors=GOVERNORS,
                    power_mw=None, with_power=True, devfreq_registered=True, thermal=None, emc_hz=None):
    """Build a simulated ``board`` under ``root``; returns a dict of the important real paths.

    ``cur_mhz`` None -> cur_freq reads max (0 simulates a rail-gated GPU); ``nvpmodel_mode`` None -> no
    /var/lib/nvpmodel/status (conf still written when the board's modes are known); ``release`` None ->
    no /etc/nv_tegra_release. ``power_mw`` maps rail name -> simulated mW (default 1000 each).
    ``devfreq_registered`` False -> a GPU rail-gated since boot: device and of_node exist, the devfreq entry
    appears when SimKernel sees railgate_enable := 0. ``thermal`` = {zone type: (temp C, trip C)};
    ``emc_hz`` writes the EMC debugfs clock files of the board's SoC (boards.EMC_BY_SOC)."""
    root = str(root)
    facts = boards.by_key(board)
    layout = LAYOUTS[board]
    table = list(table_hz or boards.freq_table(facts, release) or ())
    if not table:
        raise ValueError("no sourced available_frequencies table for {}: pass table_hz=".format(board))
    table = sorted(table)
    min_hz = table[0] if min_hz is None else min_hz
    max_hz = table[-1] if max_hz is None else max_hz
    cur_hz = max_hz if cur_mhz is None else int(round(cur_mhz * 1e6))
    device, entry = gpu_device(board)
    devfreq = "{}/devfreq/{}".format(device, entry)
    paths = {"root": root}
    files = (("available_frequencies", " ".join(str(f) for f in table)),
             ("min_freq", str(min_hz)), ("max_freq", str(max_hz)), ("cur_freq", str(cur_hz)),
             ("governor", governor), ("available_governors", governors),
             ("target_freq", str(cur_hz)), ("polling_interval", "0"))
    paths["device"] = os.path.join(root, device.lstrip("/"))
    if devfreq_registered:
        _register_devfreq(root, device, entry, files, paths)
    else:
        _write(root, device + "/.sim_devfreq.json", json.dumps({"entry": entry, "files": files}))
        paths["devfreq"] = os.path.join(root, devfreq.lstrip("/"))
        for name, _value in files:
            paths[name] = os.path.join(paths["devfreq"], name)
    paths["load"] = _write(root, device + "/load", "0\n")
    paths["railgate_enable"] = _write(root, device + "/railgate_enable", "1\n")
    if layout["node"]:
        of_node = "/sys/firmware/devicetree/base/{}@{}".format(layout["node"], entry.split(".")[0])
        _write(root, of_node + "/name", layout["node"] + "\0")
        _write(root, of_node + "/compatible", "\0".join(layout["compatible"][:1] + ("nvidia,gpu",)) + "\0")
        _link(root, device + "/of_node", of_node)
    for alias in layout["aliases"]:
        _link(root, alias, device)
    # a non-GPU devfreq entry, as every board has (EMC/host1x scaling): must be skipped by discovery
    _write(root, "/sys/devices/13e10000.host1x/devfreq/13e10000.host1x/cur_freq", "204000000\n")
    _link(root, "/sys/class/devfreq/13e10000.host1x", "/sys/devices/13e10000.host1x/devfreq/13e10000.host1x")

    paths["model"] = _write(root, "/proc/device-tree/model", layout["model"] + "\0")
    paths["compatible"] = _write(root, "/proc/device-tree/compatible", "\0".join(layout["compatible"]) + "\0")
    paths["boot_id"] = _write(root, "/proc/sys/kernel/random/boot_id", "6f1c7d2e-sim-boot\n")
    if release is not None:
        line = NV_TEGRA_RELEASE.get(release) or "# R{} (release), REVISION: {}, GCID: 0, BOARD: generic, " \
            "EABI: aarch64, DATE: Thu Jan  1 00:00:00 UTC 2099".format(*release.split(".", 1))
        if int(release.split(".")[0]) >= 36:
            line += "\n" + KERNEL_VARIANT_LINE
        paths["nv_tegra_release"] = _write(root, "/etc/nv_tegra_release", line + "\n")
    if boards.nvpmodel_modes(facts, release):
        paths["nvpmodel_conf"] = _write(root, "/etc/nvpmodel.conf", nvpmodel_conf_text(facts, release))
    if nvpmodel_mode is not None:
        paths["nvpmodel_status"] = _write(root, "/var/lib/nvpmodel/status", "pmode:{:04d}\n".format(nvpmodel_mode))
    if with_power:
        paths["power"] = _make_power(root, facts, layout, release, power_mw or {})
    for index, (zone, (temp_c, trip_c)) in enumerate(sorted((thermal or {}).items())):
        folder = "{}/thermal_zone{}".format(boards.THERMAL_ZONES, index)
        _write(root, folder + "/type", zone + "\n")
        paths["thermal_" + zone] = _write(root, folder + "/temp", "{}\n".format(int(temp_c * 1000)))
        _write(root, folder + "/trip_point_0_temp", "{}\n".format(int(trip_c * 1000)))
        _write(root, folder + "/trip_point_0_type", "passive\n")
    emc = boards.value_of(boards.EMC_BY_SOC.get(facts.soc) or {})
    if emc_hz and emc:
        paths["emc_rate"] = _write(root, emc["rate"], "{}\n".format(emc_hz))
        paths["emc_lock"] = _write(root, emc["lock"], "0\n")
        _write(root, emc["min"], "204000000\n")
        _write(root, emc["max"], "{}\n".format(emc_hz))
        if emc.get("possible"):
            _write(root, emc["possible"], "204000 665600 {} (kHz)\n".format(emc_hz // 1000))
    return paths


def _register_devfreq(root, device, entry, files, paths):
    """The devfreq entry of ``device``: device/devfreq/<entry>/..., its class link and device link."""
    devfreq = "{}/devfreq/{}".format(device, entry)
    for name, value in files:
        paths[name] = _write(root, "{}/{}".format(devfreq, name), value + "\n")
    paths["devfreq"] = os.path.dirname(paths["min_freq"])
    _link(root, devfreq + "/device", device)
    paths["class_entry"] = _link(root, "/sys/class/devfreq/" + entry, devfreq)


def _make_power(root, facts, layout, release, power_mw):
    """INA3221 monitors: ina3221x IIO (channels 0..2, mW files) up to L4T R32, hwmon (1..3, V and I) after."""
    rails = {}
    hwmon = release is not None and int(release.split(".")[0]) >= 34
    layout_facts = boards.power_layout(facts)
    if layout_facts["driver"] == boards.INA238:   # Thor carrier: one hwmon with the VIN label, power in uW
        folder = "/sys/class/hwmon/hwmon{}".format(len(layout_facts["monitors"]) + 1)
        _write(root, folder + "/name", "ina238\n")
        _write(root, folder + "/in1_label", layout_facts["input_label"] + "\n")
        rails[layout_facts["input_label"]] = _write(
            root, folder + "/power1_input", "{}\n".format(int(power_mw.get("VIN", 30000) * 1000)))
        return rails
    for index, (addr, names) in enumerate(layout_facts["monitors"]):
        client = "{}-00{}".format(layout["i2c_bus"], addr[2:])
        if hwmon:
            folder = "/sys/bus/i2c/drivers/ina3221/{}/hwmon/hwmon{}".format(client, index + 1)
        else:
            legacy = release is not None and int(release.split(".")[0]) <= 28   # L4T 27/28 name it iio_device
            folder = "/sys/bus/i2c/drivers/ina3221x/{}/{}".format(
                client, "iio_device" if legacy else "iio:device{}".format(index))
        for channel, name in enumerate(names):
            mw = power_mw.get(name, 1000)
            if hwmon:
                i = channel + 1
                _write(root, "{}/in{}_label".format(folder, i), name + "\n")
                _write(root, "{}/in{}_input".format(folder, i), "5000\n")
                rails[name] = _write(root, "{}/curr{}_input".format(folder, i), "{}\n".format(int(mw / 5.0)))
            else:
                _write(root, "{}/rail_name_{}".format(folder, channel), name + "\n")
                _write(root, "{}/in_voltage{}_input".format(folder, channel), "5000\n")
                _write(root, "{}/in_current{}_input".format(folder, channel), "{}\n".format(int(mw / 5.0)))
                rails[name] = _write(root, "{}/in_power{}_input".format(folder, channel), "{}\n".format(mw))
    return rails


class SimKernel(object):
    """SysfsWriter hook playing the devfreq kernel of one generation (boards.KERNEL_SEMANTICS):

    * 4.9 (L4T <= 32): rejects a min_freq above max_freq (and a max_freq below min_freq) with EINVAL;
    * 5.10+ (L4T >= 34): min/max writes are PM-QoS requests, never EINVAL; the files then read back the
      effective range: requests clamped into the table, min clamped to max. Call ``settle(path)`` after a
      write (``SimWriter`` does) to make the files show it, as the kernel's show functions would.

    ``kernel`` None -> from the release in the tree under $ESPNET_EDGE_SYSFS_ROOT. Also rejects a governor
    not in available_governors, registers a rail-gated GPU's devfreq entry when railgate_enable := 0, and
    records every write with the min/max it leaves. ``reject`` = {file name: errno} forces a rejection."""

    def __init__(self, reject=None, refuse_governor=False, kernel=None, qos_max_hz=None):
        self.qos_max_hz = qos_max_hz   # another PM-QoS max request (thermal, nvpmodel) held on 5.10+
        self.writes = []       # (file name, value, min after, max after)
        self.reject = dict(reject or {})
        self.refuse_governor = refuse_governor
        self.kernel = kernel
        self.requests = {}     # devfreq folder -> {"min": Hz, "max": Hz} (5.10+)

    def _generation(self):
        if self.kernel is None:
            from espnet_edge.jetson import detect
            release = detect.read_release()
            self.kernel = boards.kernel_generation(release["release"] if release else None) or boards.KERNEL_LEGACY
        return self.kernel

    @staticmethod
    def _read(folder, name):
        with open(os.path.join(folder, name)) as handle:
            return handle.read().strip()

    @staticmethod
    def _put(folder, name, value):
        with open(os.path.join(folder, name), "w") as handle:
            handle.write("{}\n".format(value))

    def __call__(self, path, value):
        folder, name = os.path.split(path)
        if name in self.reject:
            raise OSError(self.reject[name], os.strerror(self.reject[name]))
        if name == "railgate_enable":
            self.writes.append((name, str(value), None, None))
            if str(value) == "0":
                self._power_up(folder)
            return
        if name == "governor":
            if self.refuse_governor or str(value) not in self._read(folder, "available_governors").split():
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            self.writes.append((name, str(value), None, None))
            return
        if name not in ("min_freq", "max_freq"):
            self.writes.append((name, str(value), None, None))
            return
        if self._generation() == boards.KERNEL_PM_QOS:
            low, high = self._effective(folder, name, int(value))
            self.writes.append((name, int(value), low, high))
            return
        low, high = int(self._read(folder, "min_freq")), int(self._read(folder, "max_freq"))
        if name == "min_freq":
            low = int(value)
        elif name == "max_freq":
            high = int(value)
        if low > high:
            raise OSError(errno.EINVAL, "{} would leave min {} > max {}".format(name, low, high))
        self.writes.append((name, int(value), low, high))
        self._follow(folder, low, high)

    def _effective(self, folder, name, value):
        table = [int(v) for v in self._read(folder, "available_frequencies").split()]
        request = self.requests.setdefault(folder, {"min": int(self._read(folder, "min_freq")),
                                                    "max": int(self._read(folder, "max_freq"))})
        request["min" if name == "min_freq" else "max"] = value
        low = max(min(table), request["min"])
        high = min(max(table), request["max"], self.qos_max_hz or max(table))
        if low > high:
            low = high       # 'max_freq takes precedence over min_freq'
        return low, high

    def settle(self, path):
        """After a raw write landed in ``path``: show the effective range (5.10+) in min_freq/max_freq."""
        folder, name = os.path.split(path)
        if name not in ("min_freq", "max_freq") or self._generation() != boards.KERNEL_PM_QOS:
            return
        request = self.requests.get(folder)
        if request is None:
            return
        table = [int(v) for v in self._read(folder, "available_frequencies").split()]
        low = max(min(table), request["min"])
        high = min(max(table), request["max"], self.qos_max_hz or max(table))
        low = min(low, high)
        self._put(folder, "min_freq", low)
        self._put(folder, "max_freq", high)
        self._follow(folder, low, high)

    def _follow(self, folder, low, high):
        cur = int(self._read(folder, "cur_freq"))
        if cur:
            self._put(folder, "cur_freq", min(max(cur, low), high))

    @staticmethod
    def _power_up(device_dir):
        pending = os.path.join(device_dir, ".sim_devfreq.json")
        if not os.path.exists(pending):
            return
        with open(pending) as handle:
            spec = json.load(handle)
        root = os.environ["ESPNET_EDGE_SYSFS_ROOT"]
        device = "/" + os.path.relpath(os.path.realpath(device_dir), os.path.realpath(root))
        _register_devfreq(root, device, spec["entry"], spec["files"], {})
        os.unlink(pending)


def sim_writer_class():
    """A SysfsWriter that lets the SimKernel hook show the effective range after each write (5.10+)."""
    from espnet_edge.jetson.clocks import SysfsWriter

    class SimWriter(SysfsWriter):
        def write(self, path, value):
            SysfsWriter.write(self, path, value)
            if not self.dry_run and hasattr(self.hook, "settle"):
                self.hook.settle(path)

    return SimWriter


def read_freqs(paths):
    """(min, max, governor) as the tree reads now."""
    def read(name):
        with open(paths[name]) as handle:
            return handle.read().strip()
    return int(read("min_freq")), int(read("max_freq")), read("governor")
