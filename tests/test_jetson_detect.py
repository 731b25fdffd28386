"""Board detection, release parsing and nvpmodel reading on simulated trees built from sysfs.md facts."""

import os

import pytest

from espnet_edge.jetson import boards, detect, nvpmodel
from sim_jetson import make_board_tree, nvpmodel_conf_text


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("line, release, board", [
    ("# R32 (release), REVISION: 1.0, GCID: 14531094, BOARD: t210ref, EABI: aarch64, DATE: Wed Mar 13 07:46:13 UTC 2019",
     "32.1.0", "t210ref"),
    ("# R32 (release), REVISION: 7.6, GCID: 38171779, BOARD: t210ref, EABI: aarch64, DATE: Tue Nov  5 07:46:14 UTC 2024",
     "32.7.6", "t210ref"),
    ("R36 (release), REVISION: 4.4, GCID: 41062509, BOARD: generic, EABI: aarch64, DATE: Mon Jun 16 16:07:13 UTC 2025",
     "36.4.4", "generic"),
    ("# R28 (release), REVISION: 5, GCID: 1, BOARD: t186ref, EABI: aarch64, DATE: x", "28.5.0", "t186ref"),
])
def test_parse_nv_tegra_release(line, release, board):
    parsed = detect.parse_nv_tegra_release(line + "\n")
    assert parsed["release"] == release
    assert parsed["board"] == board


@pytest.mark.parametrize("text", ["", "Ubuntu 22.04", "# R32 (release), GCID: 1"])
def test_parse_nv_tegra_release_rejects_other_text(text):
    assert detect.parse_nv_tegra_release(text) is None


@pytest.mark.parametrize("l4t, jetpack", [("32.7.1", "4.6.1"), ("32.7.6", "4.6.6"), ("32.2.0", "4.2.1"),
                                          ("36.4.4", "6.2.1"), ("35.9.9", "5.x"), ("99.1.0", None)])
def test_l4t_to_jetpack(l4t, jetpack):
    assert detect.l4t_to_jetpack(l4t) == jetpack


@pytest.mark.parametrize("board, release, devfreq, node, table_hz", [
    ("tx2", "32.7.1", "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b", "gp10b", None),
    ("nano", "32.7.3", "/sys/devices/57000000.gpu/devfreq/57000000.gpu", "gpu", None),
    ("xavier-nx", "32.7.1", "/sys/devices/17000000.gv11b/devfreq/17000000.gv11b", "gv11b", None),
    ("agx-xavier", "32.7.1", "/sys/devices/17000000.gv11b/devfreq/17000000.gv11b", "gv11b", None),
    ("agx-orin", "35.2.1", "/sys/devices/17000000.ga10b/devfreq/17000000.ga10b", "ga10b", None),
    ("orin-nano", "36.4.4", "/sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu", "gpu",
     (306000000, 612000000)),
    ("thor", "38.4.0", "/sys/devices/platform/gpu-gpc-0/devfreq/gpu-gpc-0", "gpu-gpc-0", (300000000, 600000000)),
])
def test_detect_simulated_boards(root, board, release, devfreq, node, table_hz):
    make_board_tree(root, board=board, release=release, table_hz=table_hz)
    info = detect.detect()
    assert info.is_jetson
    assert info.board.key == board
    assert info.l4t == release
    assert [g.node_name for g in info.gpus] == [node]   # the host1x devfreq entry is not taken for the GPU
    assert info.to_dict()["gpu_devfreq"] == [devfreq]


def test_detect_reads_through_symlinked_class_entry(root):
    paths = make_board_tree(root, board="tx2")
    assert os.path.islink(paths["class_entry"])
    gpu = detect.find_gpu_devfreq()[0]
    assert gpu.freq_dir == os.path.realpath(paths["devfreq"])
    assert gpu.device_dir == os.path.realpath(paths["device"])


def test_not_a_jetson(root):
    assert not detect.detect().is_jetson


def test_generic_gpu_devfreq_without_nvidia_tree_is_not_a_jetson(root):
    # e.g. an Arm board with a Mali "gpu" devfreq node: same names, no nvidia compatible string
    dev = root / "sys/devices/ff9a0000.gpu"
    (dev / "devfreq/ff9a0000.gpu").mkdir(parents=True)
    (root / "sys/firmware/gpu").mkdir(parents=True)
    (root / "sys/firmware/gpu/name").write_text("gpu\0")
    (root / "sys/firmware/gpu/compatible").write_text("rockchip,rk3399-mali\0arm,mali-t860\0")
    os.symlink("../../../firmware/gpu", str(dev / "of_node"))
    os.symlink("../..", str(dev / "devfreq/ff9a0000.gpu/device"))
    (root / "sys/class/devfreq").mkdir(parents=True)
    os.symlink("../../devices/ff9a0000.gpu/devfreq/ff9a0000.gpu", str(root / "sys/class/devfreq/ff9a0000.gpu"))
    assert detect.find_gpu_devfreq() == []


@pytest.mark.parametrize("model, key", [
    ("NVIDIA Jetson Nano Developer Kit", "nano"), ("jetson-nano", "nano"), ("quill", "tx2"),
    ("jetson_tx1", "tx1"), ("NVIDIA Jetson Xavier NX Developer Kit", "xavier-nx"),
    ("NVIDIA Orin Jetson-Small Developer Kit", "agx-orin"), ("Jetson AGX Orin", "agx-orin"),
    ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", "orin-nx"),
    ("NVIDIA Jetson Orin Nano Developer Kit", "orin-nano"), ("NVIDIA Jetson TX2 NX Developer Kit", "tx2-nx"),
    ("Jetson-AGX", "agx-xavier"), ("NVIDIA Jetson AGX Thor Developer Kit", "thor"),
])
def test_identify_board_from_model_strings(model, key):
    assert detect.identify_board({"model": model, "compatible": []}).key == key


def test_identify_board_by_module_number_beats_carrier():
    # p3509-0000 is a carrier shared by TX2 NX and Xavier NX: the module number decides
    ident = {"model": None, "compatible": ["nvidia,p3509-0000+p3668-0001", "nvidia,tegra194"]}
    assert detect.identify_board(ident).key == "xavier-nx"


def test_nvpmodel_conf_and_status(root):
    tx2 = boards.by_key("tx2")
    conf = nvpmodel.parse_conf(nvpmodel_conf_text(tx2))
    assert conf["default"] == 3
    assert conf["modes"][1] == {"name": "MAXQ", "gpu_max_hz": 850000000, "gpu_min_hz": None}
    assert conf["modes"][0]["gpu_max_hz"] is None
    assert nvpmodel.parse_status("pmode:0002\n") == 2
    # MAXP caps at 1120 MHz; the kernel rounds up to the next step (nvpmodel REAL_VAL 1134750000, sysfs.md §3)
    assert nvpmodel.effective_cap_hz(1120000000, boards.TX2_TABLE_R32) == 1134750000
    make_board_tree(root, board="tx2", nvpmodel_mode=1)
    mode = nvpmodel.current_mode()
    assert (mode["id"], mode["name"], mode["gpu_max_hz"], mode["source"]) == (1, "MAXQ", 850000000, "status")


def test_nvpmodel_old_tx2_path_format():
    text = ("< POWER_MODEL ID=1 NAME=MAXQ >\n"
            "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b/max_freq 850000000\n"
            "< PM_CONFIG DEFAULT=3 >\n")
    assert nvpmodel.parse_conf(text)["modes"][1]["gpu_max_hz"] == 850000000


def test_nvpmodel_default_when_no_status(root):
    make_board_tree(root, board="agx-xavier")
    mode = nvpmodel.current_mode()
    assert (mode["id"], mode["name"], mode["gpu_max_hz"], mode["source"]) == (2, "MODE_15W", 670000000, "default")
