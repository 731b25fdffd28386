"""What we know about each Jetson board and release, as data; every fact sits beside its source.

A fact is ``fact(value, source)`` -> ``Fact(value, source)``; ``source`` is where the value was
read (``sysfs.md`` = ../shared/jetson/sysfs.md, section numbers given) or ``UNSOURCED + reason`` when no
public source confirms it. Frequencies are in Hz as the kernel prints them. A ``Board``'s ``generations``
holds what changes with the software release (key from ``generation(l4t)``) as ``GpuFacts``: the GPU
``table`` (available_frequencies) and the ``nvpmodel`` modes {id: (name, GPU MAX_FREQ cap in Hz or
None = uncapped)}.

This module is the one place these facts live: detect, clocks, nvpmodel, the tegrastats total-power rule,
the power-node sampler and the test simulator (tests/sim_jetson.py) all read them from here.
"""

from typing import Any, Dict, NamedTuple, Tuple

UNSOURCED = "UNSOURCED"
UNKNOWN_CAP = "cap not collected"   # an nvpmodel mode whose GPU cap no source gives (None = uncapped)
SYSFS_MD = "../shared/jetson/sysfs.md"


class Fact(NamedTuple("Fact", [("value", Any), ("source", str)])):
    """A value and where it was read (or UNSOURCED + why no source confirms it)."""
    __slots__ = ()


def fact(value, source):
    return Fact(value, source)


def value_of(entry):
    return entry.value if isinstance(entry, Fact) else entry


def is_unsourced(entry):
    return str(entry.source).startswith(UNSOURCED)


class GpuFacts(NamedTuple("GpuFacts", [("table", Fact), ("nvpmodel", Fact)])):
    """What changes with the software release: the GPU's available_frequencies (Hz) and the nvpmodel
    modes ({"default": id, "modes": {id: (name, GPU cap Hz | None | UNKNOWN_CAP)}})."""
    __slots__ = ()


class Board(NamedTuple("Board", [
        ("key", str), ("name", str), ("soc", str), ("gpu", str),
        ("modules", Tuple[str, ...]),       # module part numbers as in the device tree's compatible
        ("model_words", Tuple[str, ...]),   # words of /proc/device-tree/model that name the board
        ("devfreq_dirs", Fact),             # the GPU's devfreq folders, most likely first
        ("load_files", Tuple[str, ...]),    # the GPU's load file (per mille)
        ("generations", Dict[str, GpuFacts]),
        ("power", Fact)])):                 # {"driver", "monitors": ((i2c address, rail names), ...)[, "input_label"]}
    """One Jetson board (or family sharing SoC, devfreq node and power monitors)."""
    __slots__ = ()


class PowerRule(NamedTuple("PowerRule", [("rails", Tuple[str, ...]), ("how", str), ("source", str)])):
    """The board input power is the sum of ``rails`` when all are present (``total_power_rule``)."""
    __slots__ = ()


# -- GPU frequency tables (Hz) ---------------------------------------------------------------------
TX2_TABLE_R32 = (114750000, 216750000, 318750000, 420750000, 522750000, 624750000, 726750000,
                 828750000, 930750000, 1032750000, 1134750000, 1236750000, 1300500000)
TX2_TABLE_R28 = (140250000, 229500000, 318750000, 408000000, 497250000, 586500000, 675750000,
                 765000000, 854250000, 943500000, 1032750000, 1122000000, 1211250000, 1300500000)
NANO_TABLE = (76800000, 153600000, 230400000, 307200000, 384000000, 460800000, 537600000,
              614400000, 691200000, 768000000, 844800000, 921600000)
AGX_XAVIER_TABLE = (114750000, 216750000, 318750000, 420750000, 522750000, 624750000, 675750000,
                    828750000, 905250000, 1032750000, 1198500000, 1236750000, 1338750000, 1377000000)
XAVIER_NX_TABLE = (114750000, 204000000, 306000000, 408000000, 510000000, 599250000, 701250000,
                   752250000, 803250000, 854250000, 905250000, 956250000, 1007250000, 1058250000,
                   1109250000)
# AGX Orin from JetPack 5.1: 306 MHz minimum and 1300.5 MHz maximum are sourced; the 102 MHz steps
# between them are inferred from the caps 612/816 MHz (JP6) and Orin Nano's 612/918/1020 MHz.
ORIN_TABLE_JP51 = (306000000, 408000000, 510000000, 612000000, 714000000, 816000000, 918000000,
                   1020000000, 1122000000, 1224000000, 1300500000)
ORIN_NANO_SUPER_TABLE = (306000000, 408000000, 510000000, 612000000, 714000000, 816000000, 918000000,
                         1020000000)
ORIN_NX_TABLE = (306000000, 408000000, 510000000, 612000000, 714000000, 816000000, 918000000)

S_TX2_R32 = ("sysfs.md §3: 13-entry list beside TX2 CPU table and ina3221x paths in two GitHub scripts "
             "(index ids 35809137997, 5982417982); MIDS-scaling-up/v2 JP4.2.1 nvpmodel REAL_VAL 1134750000")
S_TX2_R28 = ("sysfs.md §3: JonghoKim-Harry/tx2-power-measurement script/gnuplot/cpu-gpu-power-frequency.plot "
             "(L4T 28-era tool)")
S_NANO = "sysfs.md §3: emwjacobson/JetsonPowerTesting README.md (Nano Config, L4T R32)"
S_XAVIER = "sysfs.md §3: emwjacobson/JetsonPowerTesting README.md (AGX Config, L4T R32)"
S_XAVIER_NX = ("sysfs.md §3: NVIDIA 'Configuring GPU Clocks' text (index id 36384164885); max 1109250000 also "
               "in NVIDIA-AI-IOT/jetson_benchmarks utils/benchmark_argparser.py")
S_ORIN_JP50 = ("sysfs.md §3: weak - one GitHub script uses the TX2 13-entry list on an AGX Orin (index id "
               "21450746357); consistent with the JP5 nvpmodel caps 420.75/624.75/828.75 MHz")
S_ORIN_JP51 = ("weak: min 306000000 / max 1300500000 sourced (sysfs.md §3: catid/blog2022 content/posts/orin_opt.md, "
               "jetson_clocks --show on JP5.1); the 102 MHz steps between are inferred from the same ga10b GPU's "
               "lists on Orin NX/Nano (index ids 42206150317, 54550822629)")
S_ORIN_NX = ("weak: gpufreq list [306000000 .. 918000000] in a TensorRT power-measurement script beside an Orin NX "
             "CPU table up to 1984000 kHz (exact-substring index id 42206150317; the corpus Orin NX line shows CPUs "
             "@1984); JetPack generation not stated")
S_ORIN_NANO_SUPER = ("weak: a GPU sweep script over 306000000 .. 1020000000 beside EMC 3199/2133/665.6 MHz (index id "
                     "54550822629); nvpmodel caps 612000000/918000000 and REAL_VAL 1020000000 in two JP6 test "
                     "fixtures (index ids 61655762628, 68376447656)")

INA3221X = "ina3221x"   # L4T <= R32: IIO driver, channels 0..2, in_power<i>_input in mW
INA3221 = "ina3221"     # L4T >= R34: hwmon driver, channels 1..3, power = in<i>_input (mV) * curr<i>_input (mA)
INA238 = "ina238"       # Thor carrier: hwmon, power1_input in microwatts (Linux hwmon ABI)
S_DRIVERS = ("sysfs.md §6: energymon/energymon jetson/README.md, jetson/ina3221x.c, jetson/ina3221.c; "
             "rbonghi/jetson_stats jtop/core/power.py")
# Where each power-monitor driver puts its nodes (read by profiler/power_node.py).
POWER_NODE_DIRS = fact({INA3221X: "/sys/bus/i2c/drivers/ina3221x", INA3221: "/sys/bus/i2c/drivers/ina3221",
                        INA238: "/sys/class/hwmon"},
                       "sysfs.md §6: energymon jetson/README.md (ina3221x IIO: rail_name_<i>, in_power<i>_input mW; "
                       "ina3221 hwmon: in<i>_label, in<i>_input mV, curr<i>_input mA); INA238 hwmon power1_input in "
                       "microwatts: rbonghi/jetson_stats PR #900 and the Linux hwmon sysfs ABI")
S_RAILS = "sysfs.md §6: energymon/energymon jetson/JetsonPowerRails.md (L4T 32.6.1 / 34.1 docs and device trees)"

# -- the board's input power: which rail (or documented sum) is the total ----------------------------
# Tried in order; the first rule whose rails are all present wins. Input rails come first, so a
# board that prints its input rail never has its sub-rails added on top (no double count).
TOTAL_POWER_RULES = (
    PowerRule(rails=("VDD_IN",), how="VDD_IN (board input rail)",
              source="sysfs.md §6: energymon defaults (TX1/TX2/Xavier NX/TX2 NX); rbonghi/jetson_stats "
                     "jtop/core/power.py total_power(); Orin NX/Nano: " + UNSOURCED + " (VDD_IN assumed, same name)"),
    PowerRule(rails=("POM_5V_IN",), how="POM_5V_IN (board input rail)",
              source="sysfs.md §6: NVIDIA forum quoted in rbonghi/jetson_stats issue #51 ('POM_5V_IN measures the "
                     "overall 5V input ... You don't need to add POM_5V_GPU and POM_5V_CPU')"),
    PowerRule(rails=("VIN",), how="VIN (Thor carrier INA238 input rail)",
              source="rbonghi/jetson_stats PR #900 ('Report Thor carrier-board INA238 VIN rail as the total system "
                     "input power'; 'Prefer a single VIN rail ... over individual module rails')"),
    PowerRule(rails=("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"),
              how="AGX Orin: VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0 (module rails; VDDQ_VDD2_1V8AO is fed by VIN_SYS_5V0)",
              source="sysfs.md §6: energymon jetson/JetsonPowerRails.md default for AGX Orin ('VIN_SYS_5V0 in turn "
                     "supplies VDDQ_VDD2_1V8AO')"),
    PowerRule(rails=("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"),
              how="AGX Xavier: sum of the six module rails (no parent rail)",
              source="sysfs.md §6: energymon jetson/JetsonPowerRails.md (AGX Xavier has no parent rail)"),
    PowerRule(rails=("VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"),
              how="Thor without VIN: VDD_GPU+VDD_CPU_SOC_MSS+VIN_SYS_5V0 (module rails only, not the board input)",
              source=UNSOURCED + ": rail names from tegrastats on L4T R38.4 (sysfs.md §6); that they add up to the "
                     "module power is not documented"),
)
# Rails that carry the GPU's own power, most specific first.
GPU_RAILS = ("VDD_GPU", "VDD_SYS_GPU", "POM_5V_GPU", "GPU", "VDD_GPU_SOC", "VDD_CPU_GPU_CV", "VDD_CPU_GPU")

# -- the memory clock (EMC) ----------------------------------------------------------------------------
S_EMC = ("NVIDIA jetson_clocks script do_emc() (copy found with the exact-substring index, id 413432435): "
         "tegra186 EMC_UPDATE_FREQ/EMC_FREQ_OVERRIDE paths; write order lock -> rate in TX2 scripts "
         "(index ids 37534638707, 6745710125)")
EMC_BPMP = {"rate": "/sys/kernel/debug/bpmp/debug/clk/emc/rate",
            "lock": "/sys/kernel/debug/bpmp/debug/clk/emc/mrq_rate_locked",
            "min": "/sys/kernel/debug/bpmp/debug/clk/emc/min_rate",
            "max": "/sys/kernel/debug/bpmp/debug/clk/emc/max_rate",
            "possible": "/sys/kernel/debug/bpmp/debug/emc/possible_rates"}
EMC_T210 = {"rate": "/sys/kernel/debug/clk/override.emc/clk_update_rate",
            "lock": "/sys/kernel/debug/clk/override.emc/clk_state",
            "min": "/sys/kernel/debug/tegra_bwmgr/emc_min_rate",
            "max": "/sys/kernel/debug/tegra_bwmgr/emc_max_rate", "possible": None}
EMC_BY_SOC = {
    "tegra210": fact(EMC_T210, S_EMC + " (tegra210 case)"),
    "tegra186": fact(EMC_BPMP, S_EMC + " (tegra186 case)"),
    "tegra194": fact(EMC_BPMP, S_EMC + "; tegra194 shares the BPMP debugfs clock interface: " + UNSOURCED),
    "tegra234": fact(EMC_BPMP, S_EMC + "; Orin BPMP debugfs emc/possible_rates and silent refusal of rates not "
                     "in it: index id 53188434015"),
    "tegra264": fact(None, UNSOURCED + ": no source for pinning the memory clock on Thor"),
}

# -- thermal trip points and fan -----------------------------------------------------------------------
THERMAL_ZONES = "/sys/devices/virtual/thermal"
S_THERMAL = ("sysfs.md §2: tegrastats reads /sys/devices/virtual/thermal/thermal_zone*/{type,temp} "
             "(emwjacobson/JetsonPowerTesting strace.nano.txt); trip_point_<n>_temp/_type is the Linux "
             "thermal sysfs ABI")
FAN_FILES = fact(("/sys/devices/pwm-fan/target_pwm", "/sys/devices/pwm-fan/cur_pwm"),
                 "code search: nalbam/basecamp docs/hardware/jetson.md ('echo 255 > /sys/devices/pwm-fan/"
                 "target_pwm'); cur_pwm: " + UNSOURCED)
# Sensors that read a constant, never the board's hottest part.
CONSTANT_SENSORS = fact(("PMIC",), "sysfs.md §8: PMIC@100C in every pre-2021 line and PMIC@50C in every "
                        "JetPack 4.5+/5 line of the corpus (observation, no source states it)")

BOARDS = (
    Board(
        key="tx1", name="Jetson TX1", soc="tegra210", gpu="gm20b",
        modules=("p2180",), model_words=("tx1",),
        devfreq_dirs=fact(("/sys/devices/57000000.gpu/devfreq/57000000.gpu",),
                          "sysfs.md §1: NVIDIA jetson_clocks.sh (piaoling199/TX2-notes) tegra210 case"),
        load_files=("/sys/devices/gpu.0/load",),
        generations={
            "r28": GpuFacts(table=fact(None, UNSOURCED + ": no TX1 table collected"),
                            nvpmodel=fact(None, "no nvpmodel on TX1: " + UNSOURCED)),
        },
        power=fact({"driver": INA3221X, "monitors": (("0x40", ("VDD_IN", "VDD_GPU", "VDD_CPU")),
                                                     ("0x42", ("VDD_MUX", "VDD_5V_IO_SYS", "VDD_3V3_SYS")),
                                                     ("0x43", ("VDD_3V3_IO", "VDD_1V8_IO", "VDD_M2_IN")))},
                   S_RAILS),
    ),
    Board(
        key="tx2-nx", name="Jetson TX2 NX", soc="tegra186", gpu="gp10b",
        modules=("p3636",), model_words=("tx2 nx",),
        devfreq_dirs=fact(("/sys/devices/gpu.0/devfreq/17000000.gp10b",
                           "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b"),
                          "sysfs.md §1: TX2 paths (same SoC); " + UNSOURCED + " for the TX2 NX module itself"),
        load_files=("/sys/devices/gpu.0/load",),
        generations={"r32": GpuFacts(table=fact(TX2_TABLE_R32, S_TX2_R32 + "; same SoC as TX2: " + UNSOURCED),
                                     nvpmodel=fact(None, UNSOURCED + ": TX2 NX modes not collected"))},
        power=fact({"driver": INA3221X, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU", "VDD_SOC")),)}, S_RAILS),
    ),
    Board(
        # TX2, TX2i and TX2 4GB share the SoC, the devfreq node and the power-monitor layout.
        key="tx2", name="Jetson TX2", soc="tegra186", gpu="gp10b",
        modules=("p3310", "p3489", "p2771"), model_words=("tx2", "quill", "storm", "lightning"),
        devfreq_dirs=fact(("/sys/devices/gpu.0/devfreq/17000000.gp10b",
                           "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b"),
                          "sysfs.md §1: NVIDIA-AI-IOT/jetson_benchmarks utils/utilities.py; hoony9x nvpmodel.conf "
                          "copy; rbonghi/jetson_stats issue #413 (L4T 32.7.3)"),
        load_files=("/sys/devices/gpu.0/load", "/sys/devices/17000000.gp10b/load"),
        generations={
            "r28": GpuFacts(table=fact(TX2_TABLE_R28, S_TX2_R28),
                            nvpmodel=fact({"default": 3, "modes": {0: ("MAXN", None), 1: ("MAXQ", 850000000),
                                                                   2: ("MAXP_CORE_ALL", 1120000000),
                                                                   3: ("MAXP_CORE_ARM", 1120000000),
                                                                   4: ("MAXP_CORE_DENVER", 1120000000)}},
                                          "sysfs.md §4: hoony9x/hoony9x.com _posts/2017-07-03-nvpmodel-nvidia-jetson-tx2.md")),
            "r32": GpuFacts(table=fact(TX2_TABLE_R32, S_TX2_R32),
                            nvpmodel=fact({"default": 3, "modes": {0: ("MAXN", None), 1: ("MAXQ", 850000000),
                                                                   2: ("MAXP_CORE_ALL", 1120000000),
                                                                   3: ("MAXP_CORE_ARM", 1120000000),
                                                                   4: ("MAXP_CORE_DENVER", 1120000000)}},
                                          "sysfs.md §4: hoony9x (2017 conf); MIDS-scaling-up/v2 week01/hw/Readme.md "
                                          "(JP4.2.1: MAXP_CORE_ARM = 3, CONF_VAL 1120000000)")),
        },
        power=fact({"driver": INA3221X, "monitors": (("0x40", ("VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI")),
                                                     ("0x41", ("VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR")),
                                                     ("0x42", ("VDD_MUX", "VDD_5V0_IO_SYS", "VDD_3V3_SYS")),
                                                     ("0x43", ("VDD_3V3_IO_SLP", "VDD_1V8_IO", "VDD_3V3_SYS_M2")))},
                   S_RAILS + "; paths: sysfs.md §6 (JonghoKim-Harry tx2_sysfs_power.h, hoony9x power post)"),
    ),
    Board(
        key="orin-nano", name="Jetson Orin Nano", soc="tegra234", gpu="ga10b",
        modules=("p3767-0003", "p3767-0004", "p3767-0005"), model_words=("orin nano",),
        devfreq_dirs=fact(("/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
                           "/sys/devices/17000000.ga10b/devfreq/17000000.ga10b"),
                          "sysfs.md §1: jtop find_igpu (of_node 'gpu' under /sys/class/devfreq), rbonghi/"
                          "jetson_stats PR #867 (/sys/class/devfreq/17000000.gpu); bus@0 parent: " + UNSOURCED),
        load_files=("/sys/devices/platform/gpu.0/load", "/sys/devices/gpu.0/load"),
        generations={
            "jp6": GpuFacts(table=fact(ORIN_NANO_SUPER_TABLE, S_ORIN_NANO_SUPER),
                            nvpmodel=fact({"default": 1, "modes": {0: ("15W", 612000000), 1: ("25W", 918000000),
                                                                   2: ("MAXN_SUPER", None)}},
                                          "weak: mode names canonical/tegra-snap-samples nvpmodel/README.md (sysfs.md §4); "
                                          "ids and caps from a JP6 Orin Nano test fixture (index id 61655762628); the "
                                          "7W mode is not in it")),
        },
        power=fact({"driver": INA3221, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")),)},
                   "rail names: sysfs.md §6 (tegrastats corpus, Orin NX/Nano JP5/6); hwmon layout as AGX Orin: "
                   + UNSOURCED),
    ),
    Board(
        key="nano", name="Jetson Nano", soc="tegra210", gpu="gm20b",
        modules=("p3448",), model_words=("nano",),
        devfreq_dirs=fact(("/sys/devices/gpu.0/devfreq/57000000.gpu",
                           "/sys/devices/57000000.gpu/devfreq/57000000.gpu"),
                          "sysfs.md §1: NVIDIA-AI-IOT/jetson_benchmarks; rbonghi/jetson_stats tests/nvpmodel; "
                          "Qengineering/Jover issue #3"),
        load_files=("/sys/devices/gpu.0/load",),
        generations={"r32": GpuFacts(table=fact(NANO_TABLE, S_NANO),
                                     nvpmodel=fact({"default": 0, "modes": {0: ("MAXN", None), 1: ("5W", 640000000)}},
                                                   "sysfs.md §4: rbonghi/jetson_stats tests/nvpmodel (Nano dump)"))},
        power=fact({"driver": INA3221X, "monitors": (("0x40", ("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU")),)},
                   S_RAILS + "; path /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0: emwjacobson strace.nano.txt"),
    ),
    Board(
        key="xavier-nx", name="Jetson Xavier NX", soc="tegra194", gpu="gv11b",
        modules=("p3668",), model_words=("xavier nx",),
        devfreq_dirs=fact(("/sys/devices/gpu.0/devfreq/17000000.gv11b",
                           "/sys/devices/17000000.gv11b/devfreq/17000000.gv11b"),
                          "sysfs.md §1: NVIDIA-AI-IOT/jetson_benchmarks (xavier-nx); NVIDIA clocks.html quote"),
        load_files=("/sys/devices/platform/gpu.0/load", "/sys/devices/gpu.0/load"),
        generations={"r32": GpuFacts(table=fact(XAVIER_NX_TABLE, S_XAVIER_NX),
                                     nvpmodel=fact(None, UNSOURCED + ": Xavier NX modes not collected (sysfs.md §4)"))},
        power=fact({"driver": INA3221X, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")),)}, S_RAILS),
    ),
    Board(
        key="orin-nx", name="Jetson Orin NX", soc="tegra234", gpu="ga10b",
        modules=("p3767-0000", "p3767-0001"), model_words=("orin nx",),
        devfreq_dirs=fact(("/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
                           "/sys/devices/17000000.ga10b/devfreq/17000000.ga10b"),
                          "as Orin Nano (same module family p3767); " + UNSOURCED + " for the exact parent"),
        load_files=("/sys/devices/platform/gpu.0/load", "/sys/devices/gpu.0/load"),
        generations={"jp6": GpuFacts(table=fact(ORIN_NX_TABLE, S_ORIN_NX),
                                     nvpmodel=fact(None, UNSOURCED + ": Orin NX GPU caps not collected"))},
        power=fact({"driver": INA3221, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")),)},
                   "rail names: sysfs.md §6 (tegrastats corpus); hwmon layout: " + UNSOURCED),
    ),
    Board(
        key="agx-orin", name="Jetson AGX Orin", soc="tegra234", gpu="ga10b",
        modules=("p3701",), model_words=("agx orin", "orin jetson-small", "orin"),
        devfreq_dirs=fact(("/sys/devices/17000000.ga10b/devfreq/17000000.ga10b",
                           "/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu"),
                          "sysfs.md §1: mlcommons inference_results_v3.0 nvpmodel_orin.py (JP5 FREQ_TABLE); "
                          "rbonghi/jetson_stats PR #867 (/sys/class/devfreq/17000000.gpu on JP7.2)"),
        load_files=("/sys/devices/platform/gpu.0/load",),
        generations={
            "jp5.0": GpuFacts(table=fact(TX2_TABLE_R32, S_ORIN_JP50),
                              nvpmodel=fact({"default": 2, "modes": {0: ("MAXN", None), 1: ("MODE_15W", 420750000),
                                                                     2: ("MODE_30W", 624750000),
                                                                     3: ("MODE_50W", 828750000)}},
                                            "sysfs.md §4: rbonghi/jetson_stats tests/nvpmodel (Orin dump, JP5 era, "
                                            "an emulator's pasted text)")),
            "jp5.1": GpuFacts(table=fact(ORIN_TABLE_JP51, S_ORIN_JP51),
                              nvpmodel=fact({"default": 2, "modes": {0: ("MAXN", None), 1: ("MODE_15W", UNKNOWN_CAP),
                                                                     2: ("MODE_30W", UNKNOWN_CAP),
                                                                     3: ("MODE_50W", UNKNOWN_CAP)}},
                                            "mode names: rbonghi/jetson_stats issue #292; caps on JP5.1: " + UNSOURCED
                                            + " (the board's own /etc/nvpmodel.conf is read instead)")),
            "jp6": GpuFacts(table=fact(ORIN_TABLE_JP51, S_ORIN_JP51),
                            nvpmodel=fact({"default": 2, "modes": {0: ("MAXN", None), 1: ("MODE_15W", UNKNOWN_CAP),
                                                                   2: ("MODE_30W", 612000000),
                                                                   3: ("MODE_50W", 816000000)}},
                                          "weak: issue 12 of this project ('on JetPack 6 the nvpmodel caps are 612 MHz "
                                          "(30W) and 816 MHz (50W)'); an unnamed notes file found by code search "
                                          "('MODE_30W at 306/612 MHz'); 15W cap: " + UNSOURCED)),
        },
        power=fact({"driver": INA3221, "monitors": (("0x40", ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")),
                                                    ("0x41", ("NC", "VDDQ_VDD2_1V8AO", "NC")))},
                   S_RAILS + "; hwmon under /sys/bus/i2c/devices/1-0040, 1-0041: rbonghi/jetson_stats issue #381"),
    ),
    Board(
        key="thor", name="Jetson AGX Thor", soc="tegra264", gpu="gb10b",
        modules=("p3834",), model_words=("thor",),
        devfreq_dirs=fact(("/sys/class/devfreq/gpu-gpc-0",),
                          "sysfs.md §1: rbonghi/jetson_stats jtop/core/gpu.py THOR_GPC (commit 349eba26)"),
        load_files=(),
        generations={"jp7": GpuFacts(table=fact(None, UNSOURCED + ": no Thor table collected"),
                                     nvpmodel=fact(None, UNSOURCED + ": Thor modes not collected"))},
        power=fact({"driver": INA238, "monitors": (), "input_label": "VIN"},
                   "rbonghi/jetson_stats PR #900 (INA238 VIN on the Thor carrier, power in microwatts)"),
    ),
    Board(
        key="agx-xavier", name="Jetson AGX Xavier", soc="tegra194", gpu="gv11b",
        modules=("p2888", "p2822"), model_words=("xavier", "jetson agx"),
        devfreq_dirs=fact(("/sys/devices/17000000.gv11b/devfreq/17000000.gv11b",
                           "/sys/devices/gpu.0/devfreq/17000000.gv11b",
                           "/sys/devices/platform/17000000.gv11b/devfreq/17000000.gv11b"),
                          "sysfs.md §1: emwjacobson/JetsonPowerTesting (AGX); jetson_benchmarks; "
                          "rbonghi/jetson_stats issue #414 (L4T 35.3.1)"),
        load_files=("/sys/devices/gpu.0/load",),
        generations={"r32": GpuFacts(table=fact(AGX_XAVIER_TABLE, S_XAVIER),
                                     nvpmodel=fact({"default": 2, "modes": {
                                      0: ("MAXN", None), 1: ("MODE_10W", 520000000), 2: ("MODE_15W", 670000000),
                                      3: ("MODE_30W_ALL", 900000000), 4: ("MODE_30W_6CORE", 900000000),
                                      5: ("MODE_30W_4CORE", 900000000), 6: ("MODE_30W_2CORE", 900000000)}},
                                      "sysfs.md §4: rbonghi/jetson_stats tests/nvpmodel (Xavier dump)"))},
        power=fact({"driver": INA3221X, "monitors": (("0x40", ("GPU", "CPU", "SOC")),
                                                     ("0x41", ("CV", "VDDRQ", "SYS5V")))}, S_RAILS),
    ),
)

# of_node names of Jetson GPUs (jtop's KNOWN_GPU_DEVICE_NAMES plus gm20b) -> SoC
GPU_NODE_SOC = {"gm20b": "tegra210", "gp10b": "tegra186", "gv11b": "tegra194", "ga10b": "tegra234",
                "gb10b": "tegra264", "gpu": None}
S_GPU_NODES = "sysfs.md §1: rbonghi/jetson_stats jtop/core/gpu.py find_igpu, KNOWN_GPU_DEVICE_NAMES"

# -- L4T release -> JetPack ----------------------------------------------------------------------------
S_JTOP_JP = "rbonghi/jetson_stats jtop/core/jetson_variables.py NVIDIA_JETPACK (f41d5cad, 2026-07-30)"
S_DUSTY_JP = "dusty-nv/jetson-containers jetson_containers/l4t_version.py NVIDIA_JETPACK (dd206bfe, 2026-05-30)"
S_BOTH_JP = S_JTOP_JP + "; " + S_DUSTY_JP
# release -> (JetPack, source, what another source says or None)
L4T_JETPACK = {
    "28.1.0": ("3.1", S_BOTH_JP, None),
    "28.2.0": ("3.2", S_BOTH_JP, None),
    "28.2.1": ("3.3 | 3.2.1", S_BOTH_JP, None),
    "28.3.0": ("3.3.1", UNSOURCED + ": not in either table", None),
    "28.4.0": ("3.3.3", S_BOTH_JP, None),
    "31.0.1": ("4.0", S_BOTH_JP, None),
    "31.0.2": ("4.1", S_BOTH_JP, None),
    "31.1.0": ("4.1.1", S_BOTH_JP, None),
    "32.1.0": ("4.2", S_BOTH_JP, None),
    "32.2.0": ("4.2.1", S_BOTH_JP, None),
    "32.2.1": ("4.2.2", S_BOTH_JP, None),
    "32.2.3": ("4.2.3", S_BOTH_JP, None),
    "32.3.1": ("4.3", S_BOTH_JP, None),
    "32.4.2": ("4.4 DP", S_BOTH_JP, None),
    "32.4.3": ("4.4", S_BOTH_JP, None),
    "32.4.4": ("4.4.1", S_BOTH_JP, None),
    "32.5.0": ("4.5", S_BOTH_JP, None),
    "32.5.1": ("4.5.1", S_BOTH_JP, None),
    "32.5.2": ("4.5.1", S_BOTH_JP, None),
    "32.6.1": ("4.6", S_BOTH_JP, None),
    "32.7.1": ("4.6.1", S_BOTH_JP, None),
    "32.7.2": ("4.6.2", S_BOTH_JP, None),
    "32.7.3": ("4.6.3", S_BOTH_JP, None),
    "32.7.4": ("4.6.4", S_BOTH_JP, None),
    "32.7.5": ("4.6.5", S_BOTH_JP, None),
    "32.7.6": ("4.6.6", S_BOTH_JP, None),
    "34.0.1": ("5.0 PRE-DP", S_BOTH_JP, None),
    "34.1.0": ("5.0 DP", S_BOTH_JP, None),
    "34.1.1": ("5.0.1 DP", S_BOTH_JP, None),
    "35.1.0": ("5.0.2", S_BOTH_JP, None),
    "35.2.1": ("5.1", S_BOTH_JP, None),
    "35.3.0": ("5.1.1 PRE", S_BOTH_JP, None),
    "35.3.1": ("5.1.1", S_BOTH_JP, None),
    "35.4.1": ("5.1.2", S_BOTH_JP, None),
    "35.5.0": ("5.1.3", S_BOTH_JP, None),
    "35.6.0": ("5.1.4", S_BOTH_JP, None),
    "35.6.1": ("5.1.5", S_BOTH_JP, None),
    "35.6.2": ("5.1.5", S_BOTH_JP, None),
    "35.6.3": ("5.1.5", S_JTOP_JP, "not in " + S_DUSTY_JP),
    "35.6.4": ("5.1.6", S_BOTH_JP, None),
    "36.0.0": ("6.0 EA", S_BOTH_JP, None),
    "36.2.0": ("6.0 DP", S_BOTH_JP, None),
    "36.3.0": ("6.0", S_BOTH_JP, None),
    "36.4.0": ("6.1", S_BOTH_JP, None),
    "36.4.2": ("6.1.1", S_DUSTY_JP, "jetson_stats says '6.1 (rev1)'"),
    "36.4.3": ("6.2", S_BOTH_JP, None),
    "36.4.4": ("6.2.1", S_BOTH_JP, None),
    "36.4.7": ("6.2.1", S_BOTH_JP, None),
    "36.5.0": ("6.2.2", S_JTOP_JP, "jetson-containers says '6.2.1'"),
    "38.1.0": ("7.0 EA", S_DUSTY_JP, "not in " + S_JTOP_JP),
    "38.2.0": ("7.0", S_BOTH_JP, None),
    "38.2.1": ("7.0", S_JTOP_JP, "not in " + S_DUSTY_JP),
    "38.2.2": ("7.0", S_BOTH_JP, None),
    "38.4.0": ("7.1", S_BOTH_JP, None),
    "39.0.0": ("7.2 EA", S_BOTH_JP, None),
    "39.1.0": ("7.2", S_DUSTY_JP, "not in " + S_JTOP_JP + " (which lists 39.2.0 as 7.2 GA)"),
    "39.2.0": ("7.2", S_JTOP_JP, "jetson-containers lists 39.1.0 as 7.2 GA; rbonghi/jetson_stats PR #867/#894 "
               "call JetPack 7.2 R39.2"),
}
# Major release -> JetPack major line, for releases missing above (said to be a guess).
L4T_MAJOR_FAMILY = {"28": "3", "31": "4", "32": "4", "34": "5", "35": "5", "36": "6", "38": "7", "39": "7"}

# -- software generations: what the devfreq kernel does with min/max writes -----------------------------
KERNEL_LEGACY = "4.9"      # L4T <= 32 (R28: 4.4): min_freq/max_freq stores; min > max is rejected with EINVAL
KERNEL_PM_QOS = "5.10+"    # L4T >= 34: sysfs writes are PM-QoS requests; min is clamped to max, no EINVAL
KERNEL_SEMANTICS = {
    KERNEL_LEGACY: fact({"rejects_min_above_max": True, "min_clamped_to_max": False},
                        "sysfs.md §3: emwjacobson/JetsonPowerTesting README.md ('the kernel rejects min > max', "
                        "write order HIGH->LOW min first); jetson_clocks writes min_freq := max_freq"),
    KERNEL_PM_QOS: fact({"rejects_min_above_max": False, "min_clamped_to_max": True},
                        "Linux drivers/devfreq/devfreq.c 'PM / devfreq: Use PM QoS for sysfs min/max_freq' "
                        "(user_min_freq_req/user_max_freq_req; get_freq_range: 'max_freq takes precedence over "
                        "min_freq', min_freq_show reports the effective range); L4T 34 runs kernel 5.10.65 and "
                        "L4T 36 5.15.148 (../shared/jetson/tegrastats/SOURCES.md)"),
}


def _release_tuple(release):
    parts = []
    for part in str(release or "").split("."):
        if not part.isdigit():
            return None
        parts.append(int(part))
    if not parts:
        return None
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts[:3])


def normalise_release(release):
    """'32.5' -> '32.5.0'; None for text that is not a release."""
    parts = _release_tuple(release)
    return "{}.{}.{}".format(*parts) if parts else None


def jetpack_for(release):
    """-> {'jetpack', 'source', 'disagreement', 'guessed'} or None for text that is not a release.

    Releases missing from the sourced table get their major line ('6.x (guessed from R36)') and
    guessed=True; a two-part fallback never invents a minor version."""
    key = normalise_release(release)
    if key is None:
        return None
    if key in L4T_JETPACK:
        jetpack, source, other = L4T_JETPACK[key]
        return {"jetpack": jetpack, "source": source, "disagreement": other, "guessed": False}
    major = key.split(".")[0]
    family = L4T_MAJOR_FAMILY.get(major)
    if family is None:
        return {"jetpack": None, "source": UNSOURCED + ": release R{} is not in the sourced table".format(key),
                "disagreement": None, "guessed": True}
    return {"jetpack": "{}.x".format(family), "source": UNSOURCED + ": L4T {} is not in the sourced table; "
            "JetPack {} line guessed from R{}".format(key, family, major), "disagreement": None, "guessed": True}


def kernel_generation(release):
    """KERNEL_LEGACY for L4T <= 32, KERNEL_PM_QOS for L4T >= 34; None when the release is unknown."""
    parts = _release_tuple(release)
    if parts is None:
        return None
    return KERNEL_LEGACY if parts[0] <= 32 else KERNEL_PM_QOS


def generation(release):
    """Software generation key used in a board's ``generations``: r28, r32, jp5.0, jp5.1, jp6, jp7."""
    parts = _release_tuple(release)
    if parts is None:
        return None
    if parts[0] <= 28:
        return "r28"
    if parts[0] <= 32:
        return "r32"
    if parts[0] == 34 or parts[:2] == (35, 1):
        return "jp5.0"
    if parts[0] == 35:
        return "jp5.1"
    if parts[0] == 36:
        return "jp6"
    return "jp7"


GENERATION_ORDER = ("r28", "r32", "jp5.0", "jp5.1", "jp6", "jp7")


def gpu_facts(board, release=None):
    """-> (generation key used, GpuFacts, guessed). The exact generation when the
    board has it, else the nearest one (the closest sourced facts), said to be guessed."""
    gens = board.generations
    wanted = generation(release)
    if wanted in gens:
        return wanted, gens[wanted], False
    if not gens:
        return None, GpuFacts(fact(None, UNSOURCED), fact(None, UNSOURCED)), True
    order = GENERATION_ORDER
    index = order.index(wanted) if wanted in order else len(order)
    best = min(gens, key=lambda g: (abs(order.index(g) - index), -order.index(g)))
    return best, gens[best], True


def by_key(key):
    for board in BOARDS:
        if board.key == key:
            return board
    raise KeyError(key)


def keys():
    return [board.key for board in BOARDS]


def freq_table(board, release=None):
    """The board's available_frequencies table (Hz) for ``release`` (nearest generation), or None."""
    _gen, facts, _guessed = gpu_facts(board, release)
    return value_of(facts.table)


def nvpmodel_modes(board, release=None):
    _gen, facts, _guessed = gpu_facts(board, release)
    return value_of(facts.nvpmodel)


def power_layout(board):
    return value_of(board.power)


def total_power_rule(rail_names):
    """-> (rails to add, how, source) for the board's input power, or ([], reason, None) when no rule applies.

    Input rails (VDD_IN, POM_5V_IN, VIN) win over any sum; sums only apply when all their rails are there.
    Unknown layouts sum every rail but 'NC' and say so."""
    names = set(rail_names)
    for rule in TOTAL_POWER_RULES:
        if all(name in names for name in rule.rails):
            return list(rule.rails), rule.how, rule.source
    if not names:
        return [], "no power rails", None
    rails = sorted(name for name in names if name != "NC")
    return rails, "unknown board: sum of all rails ({})".format("+".join(rails)), UNSOURCED


def gpu_power_rail(rail_names):
    for name in GPU_RAILS:
        if name in rail_names:
            return name
    return None


def all_facts():
    """Every sourced entry as (where, fact): for the docs table and the test that each carries a source."""
    found = []
    for board in BOARDS:
        for key in ("devfreq_dirs", "power"):
            found.append(("{} {}".format(board.key, key), getattr(board, key)))
        for gen, facts in sorted(board.generations.items()):
            for key in GpuFacts._fields:
                found.append(("{} {} {}".format(board.key, gen, key), getattr(facts, key)))
    for soc, entry in sorted(EMC_BY_SOC.items()):
        found.append(("EMC {}".format(soc), entry))
    for name, entry in sorted(KERNEL_SEMANTICS.items()):
        found.append(("devfreq kernel {}".format(name), entry))
    for release, (jetpack, source, other) in sorted(L4T_JETPACK.items(), key=lambda kv: _release_tuple(kv[0])):
        found.append(("L4T {}".format(release), fact(jetpack, source + ("; sources disagree: " + other
                                                                         if other else ""))))
    for rule in TOTAL_POWER_RULES:
        found.append(("total power {}".format("+".join(rule.rails)), fact(rule.how, rule.source)))
    found.append(("power node dirs", POWER_NODE_DIRS))
    found.append(("fan files", FAN_FILES))
    found.append(("constant sensors", CONSTANT_SENSORS))
    return found
