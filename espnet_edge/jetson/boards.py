"""What we know about each Jetson board, as data. Sources: ../shared/jetson/sysfs.md (section numbers below).

Frequencies are in Hz as the kernel prints them. ``nvpmodel`` maps mode id -> (name, GPU MAX_FREQ cap in Hz);
a cap of None means "no cap" (the conf says -1 or INT_MAX). Power monitors list (i2c address, rails in
channel order); ``total`` names the rail(s) whose sum is the board's input power. ``None`` = not collected.
"""

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

INA3221X = "ina3221x"   # L4T <= R32: IIO driver, channels 0..2, in_power<i>_input in mW
INA3221 = "ina3221"     # L4T >= R34: hwmon driver, channels 1..3, power = in<i>_input * curr<i>_input

# Order matters: model words are tried board by board ("tx2 nx" before "tx2", "orin nano" before "nano").
BOARDS = (
    {
        "key": "tx1", "name": "Jetson TX1", "soc": "tegra210", "gpu": "gm20b",
        "modules": ("p2180",), "model_words": ("tx1",),
        "devfreq_dirs": ("/sys/devices/57000000.gpu/devfreq/57000000.gpu",),
        "load_files": ("/sys/devices/gpu.0/load",),
        "freq_tables": {},
        "nvpmodel": None,
        "power": {"driver": INA3221X, "monitors": (("0x40", ("VDD_IN", "VDD_GPU", "VDD_CPU")),
                                                   ("0x42", ("VDD_MUX", "VDD_5V_IO_SYS", "VDD_3V3_SYS")),
                                                   ("0x43", ("VDD_3V3_IO", "VDD_1V8_IO", "VDD_M2_IN"))),
                  "total": ("VDD_IN",)},
    },
    {
        "key": "tx2-nx", "name": "Jetson TX2 NX", "soc": "tegra186", "gpu": "gp10b",
        "modules": ("p3636",), "model_words": ("tx2 nx",),
        "devfreq_dirs": ("/sys/devices/gpu.0/devfreq/17000000.gp10b",
                         "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b"),
        "load_files": ("/sys/devices/gpu.0/load",),
        "freq_tables": {},
        "nvpmodel": None,
        "power": {"driver": INA3221X, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU", "VDD_SOC")),),
                  "total": ("VDD_IN",)},
    },
    {
        # TX2, TX2i and TX2 4GB share the SoC, the devfreq node and the power-monitor layout (§1, §6).
        "key": "tx2", "name": "Jetson TX2", "soc": "tegra186", "gpu": "gp10b",
        "modules": ("p3310", "p3489", "p2771"), "model_words": ("tx2", "quill", "storm", "lightning"),
        "devfreq_dirs": ("/sys/devices/gpu.0/devfreq/17000000.gp10b",
                         "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b"),
        "load_files": ("/sys/devices/gpu.0/load", "/sys/devices/17000000.gp10b/load"),
        # R32 table holds the paper's 828.75 / 1134.75 MHz points; the R28-era table is 140.25-based (§3).
        "freq_tables": {"L4T R32": TX2_TABLE_R32, "L4T R28": TX2_TABLE_R28},
        "nvpmodel": {"default": 3, "modes": {0: ("MAXN", None), 1: ("MAXQ", 850000000),
                                             2: ("MAXP_CORE_ALL", 1120000000),
                                             3: ("MAXP_CORE_ARM", 1120000000),
                                             4: ("MAXP_CORE_DENVER", 1120000000)}},
        "power": {"driver": INA3221X, "monitors": (("0x40", ("VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI")),
                                                   ("0x41", ("VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR")),
                                                   ("0x42", ("VDD_MUX", "VDD_5V0_IO_SYS", "VDD_3V3_SYS")),
                                                   ("0x43", ("VDD_3V3_IO_SLP", "VDD_1V8_IO", "VDD_3V3_SYS_M2"))),
                  "total": ("VDD_IN",)},
    },
    {
        "key": "orin-nano", "name": "Jetson Orin Nano", "soc": "tegra234", "gpu": "ga10b",
        "modules": ("p3767-0003", "p3767-0004", "p3767-0005"), "model_words": ("orin nano",),
        "devfreq_dirs": ("/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
                         "/sys/devices/17000000.ga10b/devfreq/17000000.ga10b"),
        "load_files": ("/sys/devices/platform/gpu.0/load", "/sys/devices/gpu.0/load"),
        "freq_tables": {},
        # JetPack 6.2 Super names (§4); ids vary by release, so the board's own /etc/nvpmodel.conf wins.
        "nvpmodel": {"default": None, "modes": {0: ("15W", None), 1: ("25W", None), 2: ("MAXN_SUPER", None),
                                                3: ("7W", None)}},
        "power": {"driver": INA3221, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")),),
                  "total": ("VDD_IN",)},
    },
    {
        "key": "nano", "name": "Jetson Nano", "soc": "tegra210", "gpu": "gm20b",
        "modules": ("p3448",), "model_words": ("nano",),
        "devfreq_dirs": ("/sys/devices/gpu.0/devfreq/57000000.gpu",
                         "/sys/devices/57000000.gpu/devfreq/57000000.gpu"),
        "load_files": ("/sys/devices/gpu.0/load",),
        "freq_tables": {"L4T R32": NANO_TABLE},
        "nvpmodel": {"default": 0, "modes": {0: ("MAXN", None), 1: ("5W", 640000000)}},
        "power": {"driver": INA3221X, "monitors": (("0x40", ("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU")),),
                  "total": ("POM_5V_IN",)},
    },
    {
        "key": "xavier-nx", "name": "Jetson Xavier NX", "soc": "tegra194", "gpu": "gv11b",
        "modules": ("p3668",), "model_words": ("xavier nx",),
        "devfreq_dirs": ("/sys/devices/gpu.0/devfreq/17000000.gv11b",
                         "/sys/devices/17000000.gv11b/devfreq/17000000.gv11b"),
        "load_files": ("/sys/devices/platform/gpu.0/load", "/sys/devices/gpu.0/load"),
        "freq_tables": {"L4T R32": XAVIER_NX_TABLE},
        "nvpmodel": None,
        "power": {"driver": INA3221X, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")),),
                  "total": ("VDD_IN",)},
    },
    {
        "key": "orin-nx", "name": "Jetson Orin NX", "soc": "tegra234", "gpu": "ga10b",
        "modules": ("p3767-0000", "p3767-0001"), "model_words": ("orin nx",),
        "devfreq_dirs": ("/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu",
                         "/sys/devices/17000000.ga10b/devfreq/17000000.ga10b"),
        "load_files": ("/sys/devices/platform/gpu.0/load", "/sys/devices/gpu.0/load"),
        "freq_tables": {},
        "nvpmodel": None,
        "power": {"driver": INA3221, "monitors": (("0x40", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")),),
                  "total": ("VDD_IN",)},
    },
    {
        # Known range on JetPack 5.1: 306000000..1300500000 (catid/blog2022); full table not collected.
        "key": "agx-orin", "name": "Jetson AGX Orin", "soc": "tegra234", "gpu": "ga10b",
        "modules": ("p3701",), "model_words": ("agx orin", "orin jetson-small", "orin"),
        "devfreq_dirs": ("/sys/devices/17000000.ga10b/devfreq/17000000.ga10b",
                         "/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu"),
        "load_files": ("/sys/devices/platform/gpu.0/load",),
        "freq_tables": {},
        "nvpmodel": {"default": 2, "modes": {0: ("MAXN", None), 1: ("MODE_15W", 420750000),
                                             2: ("MODE_30W", 624750000), 3: ("MODE_50W", 828750000)}},
        "power": {"driver": INA3221, "monitors": (("0x40", ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")),
                                                  ("0x41", ("NC", "VDDQ_VDD2_1V8AO", "NC"))),
                  "total": ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")},
    },
    {
        "key": "thor", "name": "Jetson AGX Thor", "soc": "tegra264", "gpu": "gb10b",
        "modules": ("p3834",), "model_words": ("thor",),
        "devfreq_dirs": ("/sys/class/devfreq/gpu-gpc-0",),
        "load_files": (),
        "freq_tables": {},
        "nvpmodel": None,
        # rail names seen in tegrastats on L4T R38.4; which one is the total was not collected
        "power": {"driver": INA3221, "monitors": (), "total": ("VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0")},
    },
    {
        "key": "agx-xavier", "name": "Jetson AGX Xavier", "soc": "tegra194", "gpu": "gv11b",
        "modules": ("p2888", "p2822"), "model_words": ("xavier", "jetson agx"),
        "devfreq_dirs": ("/sys/devices/17000000.gv11b/devfreq/17000000.gv11b",
                         "/sys/devices/gpu.0/devfreq/17000000.gv11b",
                         "/sys/devices/platform/17000000.gv11b/devfreq/17000000.gv11b"),
        "load_files": ("/sys/devices/gpu.0/load",),
        "freq_tables": {"L4T R32": AGX_XAVIER_TABLE},
        "nvpmodel": {"default": 2, "modes": {0: ("MAXN", None), 1: ("MODE_10W", 520000000),
                                             2: ("MODE_15W", 670000000), 3: ("MODE_30W_ALL", 900000000),
                                             4: ("MODE_30W_6CORE", 900000000),
                                             5: ("MODE_30W_4CORE", 900000000),
                                             6: ("MODE_30W_2CORE", 900000000)}},
        "power": {"driver": INA3221X, "monitors": (("0x40", ("GPU", "CPU", "SOC")),
                                                   ("0x41", ("CV", "VDDRQ", "SYS5V"))),
                  "total": ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V")},
    },
)

# of_node names of Jetson GPUs (jtop's list plus gm20b and Thor's gb10b) -> SoC
GPU_NODE_SOC = {"gm20b": "tegra210", "gp10b": "tegra186", "gv11b": "tegra194", "ga10b": "tegra234",
                "gb10b": "tegra264", "gpu": None}

# L4T release -> JetPack (NVIDIA's release notes); unlisted releases fall back to the major family.
L4T_JETPACK = {
    "28.1": "3.1", "28.2": "3.2", "28.2.1": "3.3", "28.3": "3.3.1", "28.4": "3.3.2",
    "32.1": "4.2", "32.2": "4.2.1", "32.2.1": "4.2.2", "32.2.3": "4.2.3", "32.3.1": "4.3",
    "32.4.2": "4.4 DP", "32.4.3": "4.4", "32.4.4": "4.4.1", "32.5": "4.5", "32.5.0": "4.5",
    "32.5.1": "4.5.1", "32.5.2": "4.5.1", "32.6.1": "4.6", "32.7.1": "4.6.1", "32.7.2": "4.6.2",
    "32.7.3": "4.6.3", "32.7.4": "4.6.4", "32.7.5": "4.6.5", "32.7.6": "4.6.6",
    "35.1": "5.0.2", "35.1.0": "5.0.2", "35.2.1": "5.1", "35.3.1": "5.1.1", "35.4.1": "5.1.2",
    "35.5.0": "5.1.3", "35.6.0": "5.1.4",
    "36.2": "6.0 DP", "36.2.0": "6.0 DP", "36.3": "6.0", "36.3.0": "6.0", "36.4": "6.1", "36.4.0": "6.1",
    "36.4.3": "6.2", "36.4.4": "6.2.1",
}
L4T_MAJOR_JETPACK = {"27": "3.0", "28": "3.x", "32": "4.x", "34": "5.0 DP", "35": "5.x", "36": "6.x",
                     "38": "7.x", "39": "7.x"}


def by_key(key):
    for board in BOARDS:
        if board["key"] == key:
            return board
    raise KeyError(key)


def keys():
    return [board["key"] for board in BOARDS]


def freq_table(board):
    """The board's first recorded available_frequencies table (Hz), or None."""
    tables = board.get("freq_tables") or {}
    for table in tables.values():
        return table
    return None
