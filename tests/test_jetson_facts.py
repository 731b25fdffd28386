"""Board facts carry sources; L4T -> JetPack for every sourced release; facts per JetPack generation;
devfreq semantics of the 4.9 and 5.10+ kernels; a GPU rail-gated since boot."""

import io
import json
import os

import pytest

from conftest import run_main
from espnet_edge.cli import cmd_clocks
from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clocks, detect
from espnet_edge.jetson.clocks import SysfsWriter, pin_gpu
from sim_jetson import SimKernel, make_board_tree, read_freqs, sim_writer_class


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    return tmp_path


def test_every_fact_carries_a_source_or_an_unsourced_mark():
    found = boards.all_facts()
    assert len(found) > 80
    for where, entry in found:
        assert isinstance(entry, boards.Fact), where
        assert isinstance(entry.source, str) and len(entry.source) > 10, where
        if entry.value is None:   # nothing collected: must say so
            assert boards.UNSOURCED in entry.source, where


def test_unsourced_facts_are_said_to_be():
    assert boards.is_unsourced(boards.by_key("thor").generations["jp7"].table)
    assert boards.by_key("agx-orin").generations["jp5.1"].table.source.startswith("weak:")
    assert not boards.is_unsourced(boards.by_key("tx2").generations["r32"].table)


@pytest.mark.parametrize("release, jetpack", [("36.4.7", "6.2.1"), ("35.6.1", "5.1.5"), ("38.2.0", "7.0"),
                                              ("28.4.0", "3.3.3"), ("34.1.1", "5.0.1 DP"), ("32.5", "4.5")])
def test_issue_examples(release, jetpack):
    assert detect.l4t_to_jetpack(release) == jetpack


def test_unknown_release_is_a_guess_without_an_invented_minor():
    found = boards.jetpack_for("36.9.0")
    assert found["jetpack"] == "6.x" and found["guessed"] and boards.UNSOURCED in found["source"]
    assert boards.jetpack_for("99.1.0")["jetpack"] is None
    assert boards.jetpack_for("36.4.2")["disagreement"]   # the two sources differ: said so


def test_clocks_show_reports_every_sourced_release(root):
    paths = make_board_tree(root, board="tx2", release="32.7.1")
    for release, (jetpack, _source, _other) in sorted(boards.L4T_JETPACK.items()):
        major, rest = release.split(".", 1)
        with open(paths["nv_tegra_release"], "w") as handle:
            handle.write("# R{} (release), REVISION: {}, GCID: 1, BOARD: t186ref, EABI: aarch64, DATE: x\n"
                         "# KERNEL_VARIANT: oot\n".format(major, rest))
        report = cmd_clocks.gather()
        assert (report["l4t"], report["jetpack"], report["jetpack_guessed"]) == (release, jetpack, False)


def test_clocks_show_json_on_a_jetpack6_tree(tmp_path):
    make_board_tree(tmp_path, board="agx-orin", release="36.4.4", nvpmodel_mode=2)
    with open(os.path.join(str(tmp_path), "etc/nv_tegra_release")) as handle:
        text = handle.read()
    assert text.startswith("# R36 (release)") and "BOARD: generic" in text and "# KERNEL_VARIANT: oot" in text
    result = run_main("clocks", "show", "--json", env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["l4t"], report["jetpack"], report["devfreq_kernel"]) == ("36.4.4", "6.2.1", "5.10+")
    assert report["gpus"][0]["min_mhz"] == 306 and report["nvpmodel"]["gpu_cap_mhz"] == 612


def test_agx_orin_facts_follow_the_jetpack_generation():
    orin = boards.by_key("agx-orin")
    assert boards.freq_table(orin, "34.1.1")[0] == 114750000
    assert boards.freq_table(orin, "35.2.1")[0] == 306000000   # JetPack 5.1+: 306 MHz minimum
    caps = boards.nvpmodel_modes(orin, "36.4.4")["modes"]
    assert (caps[2], caps[3]) == (("MODE_30W", 612000000), ("MODE_50W", 816000000))
    assert boards.nvpmodel_modes(orin, "35.1.0")["modes"][2] == ("MODE_30W", 624750000)
    gen, _facts, guessed = boards.gpu_facts(boards.by_key("nano"), "36.4.4")   # Nano never had JP6
    assert gen == "r32" and guessed


def test_sim_kernel_510_takes_requests_and_clamps_min_to_max(root):
    paths = make_board_tree(root, board="agx-orin", release="36.4.4")
    kernel = SimKernel()
    writer = sim_writer_class()(hook=kernel)
    writer.write(paths["max_freq"], 612000000)
    writer.write(paths["min_freq"], 918000000)   # min above max: no EINVAL on 5.10+
    assert read_freqs(paths)[:2] == (612000000, 612000000)
    legacy = make_board_tree(root / "tx2", board="tx2", release="32.7.1")
    with pytest.raises(OSError):
        SimKernel(kernel=boards.KERNEL_LEGACY)(legacy["min_freq"], 1300500000 + 1)


def test_pin_on_510_is_verified_by_readback_and_restored(root):
    paths = make_board_tree(root, board="agx-orin", release="36.4.4", nvpmodel_mode=0)
    before = read_freqs(paths)
    kernel = SimKernel(qos_max_hz=408000000)   # a thermal/nvpmodel max request we did not make
    with pytest.raises(UserError) as error:
        with pin_gpu(612, writer=sim_writer_class()(hook=kernel), log=None):
            pass
    assert "requests" in str(error.value) and "max 408 MHz" in str(error.value)
    assert read_freqs(paths)[:2] == (before[0], 408000000)   # the held request still caps max
    with open(paths["max_freq"], "w") as handle:   # the other request is dropped
        handle.write("1300500000\n")
    ok = SimKernel()
    with pin_gpu(612, writer=sim_writer_class()(hook=ok), log=None) as pin:
        assert pin.applied_mhz == 612 and read_freqs(paths)[:2] == (612000000, 612000000)
    assert read_freqs(paths) == before


def test_rail_gated_gpu_is_found_and_powered_up_once(root):
    paths = make_board_tree(root, board="tx2", release="32.7.1", devfreq_registered=False)
    assert not detect.detect().is_jetson
    gated = detect.find_gated_gpu()
    assert gated is not None and gated.node_name == "gp10b"
    log = io.StringIO()
    kernel = SimKernel()
    with pin_gpu(828, writer=SysfsWriter(hook=kernel), log=log) as pin:
        assert pin.applied_mhz == 828.75
    assert "rail-gated since boot" in log.getvalue()
    assert [w[:2] for w in kernel.writes if w[0] == "railgate_enable"] == [("railgate_enable", "0"),
                                                                          ("railgate_enable", "1")]
    assert detect.detect().is_jetson and os.path.exists(paths["min_freq"])


def test_rail_gated_gpu_without_write_access_is_a_one_line_error(root):
    paths = make_board_tree(root, board="tx2", release="32.7.1", devfreq_registered=False)
    with pytest.raises(UserError) as error:
        clocks.detect_or_power_up(SysfsWriter(), None, dry_run=True)
    assert "rail-gated since boot" in str(error.value) and "sudo" in str(error.value)
    assert not os.path.exists(paths["min_freq"])


def test_docs_table_lists_every_fact_with_its_source():
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "jetson.md")) as handle:
        rows = [line for line in handle if line.startswith("| ")]
    for where, entry in boards.all_facts():
        row = next((r for r in rows if r.startswith("| {} |".format(where))), None)
        assert row is not None, "docs/jetson.md has no row for {}".format(where)
        assert entry.source.replace("|", "/")[:60] in row, where


def test_unknown_board_gets_the_closest_facts_and_says_they_are_guessed(root):
    make_board_tree(root, board="tx2", release="36.4.4")   # a TX2 never ran JetPack 6
    with open(os.path.join(str(root), "proc/device-tree/model"), "w") as handle:
        handle.write("Some Carrier Board\0")
    with open(os.path.join(str(root), "proc/device-tree/compatible"), "w") as handle:
        handle.write("vendor,carrier\0nvidia,tegra186\0")
    report = detect.detect().to_dict()
    assert (report["board_match"], report["board_guessed"]) == ("soc", True)
    assert boards.by_key(report["board"]).soc == "tegra186"
    assert report["facts_guessed"] is True and report["facts_generation"] == "r32"


def test_nvpmodel_cap_follows_the_kernel_generation():
    from espnet_edge.jetson import nvpmodel

    # 4.9: rounded up to the next step (nvpmodel REAL_VAL 1134750000 for 1120000000 on a TX2)
    assert nvpmodel.effective_cap_hz(1120000000, boards.TX2_TABLE_R32, boards.KERNEL_LEGACY) == 1134750000
    # 5.10+: a max request; the highest step not above it
    assert nvpmodel.effective_cap_hz(1120000000, boards.TX2_TABLE_R32, boards.KERNEL_PM_QOS) == 1032750000
    assert nvpmodel.effective_cap_hz(612000000, boards.ORIN_TABLE_JP51, boards.KERNEL_PM_QOS) == 612000000


def test_pin_above_a_jp6_nvpmodel_cap_is_refused_with_what_the_kernel_does(root):
    make_board_tree(root, board="agx-orin", release="36.4.4", nvpmodel_mode=2)
    with pytest.raises(UserError) as error:
        with pin_gpu(816, log=None):
            pass
    message = str(error.value)
    assert "MODE_30W" in message and "max request of 612 MHz" in message and "nvpmodel -m 0" in message


def test_clocks_show_says_when_the_jetpack_is_a_guess(tmp_path):
    make_board_tree(tmp_path, board="agx-orin", release="36.9.0")
    result = run_main("clocks", "show", env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("release"))
    assert "L4T 36.9.0 (JetPack 6.x) [guessed: not in the sourced L4T table]" in line


def test_clocks_show_names_a_rail_gated_gpu(tmp_path):
    make_board_tree(tmp_path, board="nano", release="32.7.3", devfreq_registered=False)
    result = run_main("clocks", "show", env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "found the Jetson GPU /sys/devices/57000000.gpu (gpu)" in result.stderr
    assert "rail-gated since boot" in result.stderr
