"""Simulated Jetson sysfs trees for tests, built from the sourced facts in ../shared/jetson/sysfs.md.

    paths = make_board_tree(tmp_path, board="tx2", release="32.7.1", cur_mhz=1300.5,
                            governor="nvhost_podgov", nvpmodel_mode=0)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"]}

Layout as on real kernels: the device directory holds devfreq/<name>/ (min_freq, max_freq, cur_freq,
governor, available_frequencies, available_governors), /sys/class/devfreq/<name> is a relative symlink to
it, <entry>/device links back to the device whose of_node/name is the GPU node name (NUL-terminated).
Plain files cannot refuse writes, so ``SimKernel`` (a SysfsWriter hook) plays the kernel's min <= max check
in-process and records every write. What is simulated (not sourced): the values in cur_freq, load and the
power-monitor readings, and the Orin/Thor tables noted below.
"""

import errno
import os

from espnet_edge.jetson import boards

GOVERNORS = "wmark_active wmark_simple nvhost_podgov userspace performance simple_ondemand"

# board -> how its GPU appears in sysfs (device dir, devfreq entry name, of_node name, alias links),
# identity strings and the i2c bus of its power monitors. See sysfs.md §1, §6, §7.
LAYOUTS = {
    "tx2": {"device": "/sys/devices/17000000.gp10b", "entry": "17000000.gp10b", "node": "gp10b",
            "aliases": ("/sys/devices/gpu.0",), "model": "quill",
            "compatible": ("nvidia,p2771-0000", "nvidia,tegra186"), "i2c_bus": 0},
    "tx2-nx": {"device": "/sys/devices/17000000.gp10b", "entry": "17000000.gp10b", "node": "gp10b",
               "aliases": ("/sys/devices/gpu.0",), "model": "NVIDIA Jetson TX2 NX Developer Kit",
               "compatible": ("nvidia,p3509-0000+p3636-0001", "nvidia,tegra186"), "i2c_bus": 0},
    "nano": {"device": "/sys/devices/57000000.gpu", "entry": "57000000.gpu", "node": "gpu",
             "aliases": ("/sys/devices/gpu.0",), "model": "NVIDIA Jetson Nano Developer Kit",
             "compatible": ("nvidia,p3450-0000", "nvidia,jetson-nano", "nvidia,tegra210"), "i2c_bus": 6},
    "tx1": {"device": "/sys/devices/57000000.gpu", "entry": "57000000.gpu", "node": "gm20b",
            "aliases": ("/sys/devices/gpu.0",), "model": "jetson_tx1",
            "compatible": ("nvidia,p2371-2180", "nvidia,tegra210"), "i2c_bus": 1},
    "xavier-nx": {"device": "/sys/devices/17000000.gv11b", "entry": "17000000.gv11b", "node": "gv11b",
                  "aliases": ("/sys/devices/gpu.0",), "model": "NVIDIA Jetson Xavier NX Developer Kit",
                  "compatible": ("nvidia,p3449-0000+p3668-0000", "nvidia,tegra194"), "i2c_bus": 7},
    "agx-xavier": {"device": "/sys/devices/17000000.gv11b", "entry": "17000000.gv11b", "node": "gv11b",
                   "aliases": ("/sys/devices/gpu.0",), "model": "Jetson-AGX",
                   "compatible": ("nvidia,p2972-0000", "nvidia,tegra194"), "i2c_bus": 1},
    "agx-orin": {"device": "/sys/devices/17000000.ga10b", "entry": "17000000.ga10b", "node": "ga10b",
                 "aliases": ("/sys/devices/gpu.0", "/sys/devices/platform/gpu.0"), "model": "Jetson AGX Orin",
                 "compatible": ("nvidia,p3737-0000+p3701-0000", "nvidia,tegra234"), "i2c_bus": 1},
    "orin-nano": {"device": "/sys/devices/platform/bus@0/17000000.gpu", "entry": "17000000.gpu", "node": "gpu",
                  "aliases": ("/sys/devices/platform/gpu.0",),
                  "model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
                  "compatible": ("nvidia,p3768-0000+p3767-0005-super", "nvidia,p3767-0005", "nvidia,tegra234"),
                  "i2c_bus": 1},
    "orin-nx": {"device": "/sys/devices/platform/bus@0/17000000.gpu", "entry": "17000000.gpu", "node": "gpu",
                "aliases": ("/sys/devices/platform/gpu.0",),
                "model": "NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
                "compatible": ("nvidia,p3768-0000+p3767-0000", "nvidia,p3767-0000", "nvidia,tegra234"),
                "i2c_bus": 1},
    "thor": {"device": "/sys/devices/platform/gpu-gpc-0", "entry": "gpu-gpc-0", "node": None,
             "aliases": (), "model": "NVIDIA Jetson AGX Thor Developer Kit",
             "compatible": ("nvidia,p3834-0008", "nvidia,tegra264"), "i2c_bus": 1},
}

# Weak evidence (sysfs.md §3: a GitHub script, index id 21450746357, uses the TX2 R32 list for an AGX Orin);
# consistent with Orin's nvpmodel caps 420.75/624.75/828.75 MHz. No sourced table for Orin Nano/NX or Thor.
SIM_TABLES = {"agx-orin": boards.TX2_TABLE_R32}

NV_TEGRA_RELEASE = {
    "28.2": "# R28 (release), REVISION: 2.0, GCID: 10567845, BOARD: t186ref, EABI: aarch64, DATE: Fri Mar  2 04:57:01 UTC 2018",
    "32.7.1": "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022",
    "32.7.3": "# R32 (release), REVISION: 7.3, GCID: 31982016, BOARD: t210ref, EABI: aarch64, DATE: Tue Nov 22 17:30:08 UTC 2022",
    "35.2.1": "# R35 (release), REVISION: 2.1, GCID: 32413640, BOARD: t186ref, EABI: aarch64, DATE: Tue Jan 24 23:38:33 UTC 2023",
    "36.4.4": "R36 (release), REVISION: 4.4, GCID: 41062509, BOARD: generic, EABI: aarch64, DATE: Mon Jun 16 16:07:13 UTC 2025",
    "38.4.0": "R38 (release), REVISION: 4.0, GCID: 43443517, BOARD: generic, EABI: aarch64, DATE: Wed Dec 31 00:15:19 UTC 2025",
}


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


def nvpmodel_conf_text(board):
    """An /etc/nvpmodel.conf in NVIDIA's PARAM/POWER_MODEL format with the board's sourced GPU caps."""
    facts = board["nvpmodel"]
    lines = ["< PARAM TYPE=CLOCK NAME=GPU >",
             "FREQ_TABLE {}/available_frequencies".format(board["devfreq_dirs"][0]),
             "MAX_FREQ {}/max_freq".format(board["devfreq_dirs"][0]),
             "MIN_FREQ {}/min_freq".format(board["devfreq_dirs"][0]), ""]
    for mode_id, (name, cap) in sorted(facts["modes"].items()):
        lines += ["< POWER_MODEL ID={} NAME={} >".format(mode_id, name), "GPU MIN_FREQ 0",
                  "GPU MAX_FREQ {}".format(cap if cap is not None else -1), ""]
    if facts.get("default") is not None:
        lines.append("< PM_CONFIG DEFAULT={} >".format(facts["default"]))
    return "\n".join(lines) + "\n"


def make_board_tree(root, board="tx2", release="32.7.1", cur_mhz=None, governor="nvhost_podgov",
                    nvpmodel_mode=None, table_hz=None, min_hz=None, max_hz=None, governors=GOVERNORS,
                    power_mw=None, with_power=True):
    """Build a simulated ``board`` under ``root``; returns a dict of the important real paths.

    ``cur_mhz`` None -> cur_freq reads max (0 simulates a rail-gated GPU); ``nvpmodel_mode`` None -> no
    /var/lib/nvpmodel/status (conf still written when the board's modes are known); ``release`` None ->
    no /etc/nv_tegra_release. ``power_mw`` maps rail name -> simulated mW (default 1000 each)."""
    root = str(root)
    facts = boards.by_key(board)
    layout = LAYOUTS[board]
    table = list(table_hz or boards.freq_table(facts) or SIM_TABLES.get(board) or ())
    if not table:
        raise ValueError("no sourced available_frequencies table for {}: pass table_hz=".format(board))
    table = sorted(table)
    min_hz = table[0] if min_hz is None else min_hz
    max_hz = table[-1] if max_hz is None else max_hz
    cur_hz = max_hz if cur_mhz is None else int(round(cur_mhz * 1e6))
    device = layout["device"]
    devfreq = "{}/devfreq/{}".format(device, layout["entry"])
    paths = {"root": root}
    for name, value in (("available_frequencies", " ".join(str(f) for f in table)),
                        ("min_freq", str(min_hz)), ("max_freq", str(max_hz)), ("cur_freq", str(cur_hz)),
                        ("governor", governor), ("available_governors", governors),
                        ("target_freq", str(cur_hz)), ("polling_interval", "0")):
        paths[name] = _write(root, "{}/{}".format(devfreq, name), value + "\n")
    paths["devfreq"] = os.path.dirname(paths["min_freq"])
    paths["device"] = os.path.join(root, device.lstrip("/"))
    _link(root, devfreq + "/device", device)
    paths["class_entry"] = _link(root, "/sys/class/devfreq/" + layout["entry"], devfreq)
    paths["load"] = _write(root, device + "/load", "0\n")
    _write(root, device + "/railgate_enable", "1\n")
    if layout["node"]:
        of_node = "/sys/firmware/devicetree/base/{}@{}".format(layout["node"], layout["entry"].split(".")[0])
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
        paths["nv_tegra_release"] = _write(root, "/etc/nv_tegra_release", line + "\n")
    if facts["nvpmodel"]:
        paths["nvpmodel_conf"] = _write(root, "/etc/nvpmodel.conf", nvpmodel_conf_text(facts))
    if nvpmodel_mode is not None:
        paths["nvpmodel_status"] = _write(root, "/var/lib/nvpmodel/status", "pmode:{:04d}\n".format(nvpmodel_mode))
    if with_power:
        paths["power"] = _make_power(root, facts, layout, release, power_mw or {})
    return paths


def _make_power(root, facts, layout, release, power_mw):
    """INA3221 monitors: ina3221x IIO (channels 0..2, mW files) up to L4T R32, hwmon (1..3, V and I) after."""
    rails = {}
    hwmon = release is not None and int(release.split(".")[0]) >= 34
    for index, (addr, names) in enumerate(facts["power"]["monitors"]):
        client = "{}-00{}".format(layout["i2c_bus"], addr[2:])
        if hwmon:
            folder = "/sys/bus/i2c/drivers/ina3221/{}/hwmon/hwmon{}".format(client, index + 1)
        else:
            folder = "/sys/bus/i2c/drivers/ina3221x/{}/iio:device{}".format(client, index)
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
    """SysfsWriter hook playing the devfreq kernel: rejects a min_freq above max_freq (and a max_freq
    below min_freq) with EINVAL, a governor not in available_governors, and records every write with the
    min/max it leaves. ``reject`` = {file name: errno} forces a rejection; cur_freq follows the pin."""

    def __init__(self, reject=None, refuse_governor=False):
        self.writes = []       # (file name, value, min after, max after)
        self.reject = dict(reject or {})
        self.refuse_governor = refuse_governor

    @staticmethod
    def _read(folder, name):
        with open(os.path.join(folder, name)) as handle:
            return handle.read().strip()

    def __call__(self, path, value):
        folder, name = os.path.split(path)
        if name in self.reject:
            raise OSError(self.reject[name], os.strerror(self.reject[name]))
        if name == "governor":
            if self.refuse_governor or str(value) not in self._read(folder, "available_governors").split():
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            self.writes.append((name, str(value), None, None))
            return
        low, high = int(self._read(folder, "min_freq")), int(self._read(folder, "max_freq"))
        if name == "min_freq":
            low = int(value)
        elif name == "max_freq":
            high = int(value)
        if low > high:
            raise OSError(errno.EINVAL, "{} would leave min {} > max {}".format(name, low, high))
        self.writes.append((name, int(value), low, high))
        cur = int(self._read(folder, "cur_freq"))
        if cur:
            with open(os.path.join(folder, "cur_freq"), "w") as handle:
                handle.write("{}\n".format(min(max(cur, low), high)))


def read_freqs(paths):
    """(min, max, governor) as the tree reads now."""
    def read(name):
        with open(paths[name]) as handle:
            return handle.read().strip()
    return int(read("min_freq")), int(read("max_freq")), read("governor")
