"""Which Jetson is this? Board strings, L4T/JetPack release and the GPU's devfreq entry, all read through
the sysfs prefix. The GPU devfreq directory is discovered under /sys/class/devfreq, never hard-coded."""

import os
import re

from espnet_edge.jetson import boards, sysfs

DEVFREQ_CLASS = "/sys/class/devfreq"
GPU_ENTRY_NAMES = re.compile(r"^(gpu-gpc-\d+|[0-9a-f]+\.(gpu|gm20b|gp10b|gv11b|ga10b|gb10b))$")


class GpuDevfreq(object):
    """One GPU devfreq entry: ``freq_dir`` holds min/max/cur_freq, governor, available_frequencies."""

    def __init__(self, entry, freq_dir, device_dir, node_name):
        self.entry = entry            # prefixed /sys/class/devfreq/<name>
        self.freq_dir = freq_dir      # prefixed real directory (symlink resolved)
        self.device_dir = device_dir  # prefixed real device directory (railgate_enable, load...), or None
        self.node_name = node_name    # of_node name (gp10b...) or the entry name

    @property
    def name(self):
        return os.path.basename(self.entry)

    def file(self, name):
        return os.path.join(self.freq_dir, name)

    def describe(self):
        return "{} ({})".format(sysfs.unprefix(self.freq_dir), self.node_name)


def _gpc_index(entry_name):
    match = re.match(r"gpu-gpc-(\d+)$", entry_name)
    return int(match.group(1)) if match else -1


def _is_nvidia(entry, name):
    """A generic 'gpu' devfreq node counts only on an NVIDIA (Tegra) device tree."""
    if name.startswith("gpu-gpc-"):
        return True
    for compat in (os.path.join(entry, "device", "of_node", "compatible"),
                   sysfs.path("/proc/device-tree/compatible")):
        if "nvidia," in (sysfs.read_text(compat) or "").lower():
            return True
    return False


def find_gpu_devfreq():
    """All GPU devfreq entries under /sys/class/devfreq, primary first (Thor: gpu-gpc-0, -1, ...)."""
    class_dir = sysfs.path(DEVFREQ_CLASS)
    try:
        names = sorted(os.listdir(class_dir))
    except OSError:
        return []
    found = []
    for name in names:
        entry = os.path.join(class_dir, name)
        node = sysfs.read_text(os.path.join(entry, "device", "of_node", "name"))
        if node in boards.GPU_NODE_SOC or GPU_ENTRY_NAMES.match(name):
            if (node in (None, "gpu") or name.endswith(".gpu")) and not _is_nvidia(entry, name):
                continue  # e.g. a Mali "gpu" node on another Arm board
            device = os.path.join(entry, "device")
            found.append(GpuDevfreq(entry, os.path.realpath(entry),
                                    os.path.realpath(device) if os.path.isdir(device) else None,
                                    node or name))
    found.sort(key=lambda gpu: (_gpc_index(gpu.name), gpu.name))
    return found


GPU_DEVICE_PARENTS = ("/sys/devices", "/sys/devices/platform", "/sys/devices/platform/bus@0")


class GatedGpu(object):
    """A Jetson GPU device found by of_node/compatible whose devfreq entry is not registered (yet)."""

    def __init__(self, device_dir, node_name):
        self.device_dir = device_dir   # prefixed real device directory
        self.node_name = node_name

    @property
    def railgate_file(self):
        return os.path.join(self.device_dir, "railgate_enable")

    def describe(self):
        return "{} ({})".format(sysfs.unprefix(self.device_dir), self.node_name)


def _gpu_node_of(device):
    name = sysfs.read_text(os.path.join(device, "of_node", "name"))
    compatible = (sysfs.read_text(os.path.join(device, "of_node", "compatible")) or "").lower()
    if name in boards.GPU_NODE_SOC and name != "gpu":
        return name
    for node in boards.GPU_NODE_SOC:
        if node != "gpu" and "nvidia," + node in compatible:
            return node
    if name == "gpu" and "nvidia," in compatible:
        return name
    return None


def find_gated_gpu():
    """A Jetson GPU device without a devfreq entry (rail-gated since boot: the node registers when the GPU
    first powers up), found by its of_node name/compatible; None when there is none."""
    seen = set()
    for parent in GPU_DEVICE_PARENTS:
        base = sysfs.path(parent)
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            device = os.path.realpath(os.path.join(base, name))
            if device in seen or not os.path.isdir(device):
                continue
            seen.add(device)
            node = _gpu_node_of(device)
            if node and not os.path.isdir(os.path.join(device, "devfreq")):
                return GatedGpu(device, node)
    return None


def parse_nv_tegra_release(text):
    """/etc/nv_tegra_release -> {'release': '32.7.1', 'major', 'revision', 'board', 'kernel_variant'} or None.

    Boards print ``# R32 (release), REVISION: 7.1, ...`` (the leading ``# `` on every release; R36/R38
    ``BOARD: generic``) and a second ``# KERNEL_VARIANT: oot`` line on recent releases; quotes without
    the ``# `` and ``REVISION: 5`` without ``.0`` are read too."""
    if not text:
        return None
    line = next((candidate for candidate in text.splitlines() if "(release)" in candidate), "")
    major = re.search(r"R(\d+)\s*\(release\)", line)
    revision = re.search(r"REVISION:\s*([0-9]+(?:\.[0-9]+)*)", line)
    if not major or not revision:
        return None
    board = re.search(r"BOARD:\s*([^,\s]+)", line)
    variant = re.search(r"KERNEL_VARIANT:\s*(\S+)", text)
    rev = revision.group(1)
    if "." not in rev:
        rev += ".0"
    release = boards.normalise_release("{}.{}".format(major.group(1), rev))
    return {"release": release, "major": int(major.group(1)), "revision": rev,
            "board": board.group(1) if board else None, "kernel_variant": variant.group(1) if variant else None}


def l4t_to_jetpack(release):
    """'32.7.1' -> '4.6.1' (the sourced table); unlisted releases -> '4.x' (a guess); None when unknown."""
    found = boards.jetpack_for(release) if release else None
    return found["jetpack"] if found else None


def read_release():
    return parse_nv_tegra_release(sysfs.read_board("/etc/nv_tegra_release"))


def read_identity():
    """Model string, soc0 machine/family and compatible list (device-tree strings are NUL-separated)."""
    compatible = sysfs.read_board("/proc/device-tree/compatible") or ""
    return {
        "model": sysfs.read_board("/proc/device-tree/model"),
        "machine": sysfs.read_board("/sys/devices/soc0/machine"),
        "family": sysfs.read_board("/sys/devices/soc0/family"),
        "compatible": [part for part in compatible.split("\n") if part],
    }


def identify_board(identity, gpu_node=None):
    """Best board entry from the identity strings (module numbers, then model words, then GPU node)."""
    return identify_board_match(identity, gpu_node)[0]


def identify_board_match(identity, gpu_node=None):
    """-> (board entry or None, how: 'module' | 'model' | 'soc' (the closest board of that SoC: a guess))."""
    compat = " ".join(identity.get("compatible") or []).lower()
    for board in boards.BOARDS:
        if any("nvidia," + module in compat or module + "+" in compat or "+" + module in compat
               for module in board.modules):
            return board, "module"
    for text in (identity.get("model"), identity.get("machine")):
        text = (text or "").lower().replace("_", " ").replace("-", " ")
        if not text:
            continue
        for board in boards.BOARDS:
            if any(word.replace("-", " ") in text for word in board.model_words):
                return board, "model"
    soc = boards.GPU_NODE_SOC.get(gpu_node or "")
    for hint in [soc] + [c.split(",")[-1] for c in identity.get("compatible") or []]:
        for board in boards.BOARDS:
            if hint and board.soc == hint:
                return board, "soc"
    return None, None


class JetsonInfo(object):
    def __init__(self, board, identity, release, gpus, board_match=None):
        self.board = board
        self.board_match = board_match
        self.identity = identity
        self.release = release
        self.gpus = gpus

    @property
    def is_jetson(self):
        return bool(self.gpus)

    @property
    def l4t(self):
        return self.release["release"] if self.release else None

    @property
    def jetpack(self):
        return l4t_to_jetpack(self.l4t)

    @property
    def jetpack_facts(self):
        return boards.jetpack_for(self.l4t) if self.l4t else None

    @property
    def kernel_generation(self):
        return boards.kernel_generation(self.l4t)

    def gpu_facts(self):
        """(generation, GpuFacts, guessed) for this board and release, or None."""
        return boards.gpu_facts(self.board, self.l4t) if self.board else None

    @property
    def board_name(self):
        if self.board:
            return self.board.name
        return self.identity.get("model") or self.identity.get("machine") or "unknown board"

    def to_dict(self):
        facts = self.jetpack_facts or {}
        return {"board": self.board.key if self.board else None, "board_name": self.board_name,
                "model": self.identity.get("model"), "l4t": self.l4t, "jetpack": self.jetpack,
                "jetpack_source": facts.get("source"), "jetpack_guessed": facts.get("guessed"),
                "jetpack_disagreement": facts.get("disagreement"),
                "devfreq_kernel": self.kernel_generation,
                "board_match": self.board_match, "board_guessed": self.board_match == "soc",
                "facts_generation": (self.gpu_facts() or (None,))[0],
                "facts_guessed": (self.gpu_facts() or (None, None, None))[2],
                "gpu_devfreq": [sysfs.unprefix(gpu.freq_dir) for gpu in self.gpus],
                "gpu_node": self.gpus[0].node_name if self.gpus else None}


def detect():
    gpus = find_gpu_devfreq()
    identity = read_identity()
    board, match = identify_board_match(identity, gpus[0].node_name if gpus else None)
    return JetsonInfo(board, identity, read_release(), gpus, match)
