"""Facts read or checked in one place: the sweep's frequency check uses the pin's snapping rule, one
reader for devfreq frequency files, one reader of the L4T release."""
import pytest

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clocks, sysfs
from espnet_edge.profiler.sweep import check_freqs
from espnet_edge.runtime.tensorrt import sidecar

TABLE_HZ = list(boards.TX2_TABLE_R32)


def test_sweep_steps_are_the_pins_steps():
    table_mhz = [clocks.mhz(hz) for hz in TABLE_HZ]
    freqs = [115, 520, 824, 1300]
    steps = check_freqs(freqs, table_mhz)
    assert steps == dict((f, clocks.mhz(clocks.snap_to_table(f, TABLE_HZ))) for f in freqs)
    assert steps[824] == 828.75


@pytest.mark.parametrize("freq", [50, 5000])
def test_out_of_range_is_refused_with_the_pins_words(freq):
    with pytest.raises(UserError) as pinned:
        clocks.snap_to_table(freq, TABLE_HZ)
    with pytest.raises(UserError) as swept:
        check_freqs([freq], [clocks.mhz(hz) for hz in TABLE_HZ])
    assert str(swept.value) == str(pinned.value)
    assert "outside this GPU's range 114.75 MHz..1300.5 MHz" in str(swept.value)


def test_read_hz(tmp_path):
    cur = tmp_path / "cur_freq"
    cur.write_text("828750000\n")
    assert sysfs.read_hz(str(cur)) == 828750000
    for bad in ("", "n/a", "-1", "1" * 13):
        cur.write_text(bad)
        assert sysfs.read_hz(str(cur)) is None
    assert sysfs.read_hz(str(tmp_path / "missing")) is None


def test_release_read_once(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R35 (release), REVISION: 2.1, GCID: 1, BOARD: t186ref\n")
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    assert sidecar.jetson_release() == {"l4t": "35.2.1", "jetpack": "5.1"}
    assert not hasattr(sidecar, "parse_tegra_release")


def test_cli_commands_do_not_import_each_other():
    """Profiling orchestration lives in profiler/session.py: no cli/cmd_*.py imports another command."""
    import ast
    import os

    from conftest import ROOT

    cli = os.path.join(ROOT, "espnet_edge", "cli")
    for name in sorted(os.listdir(cli)):
        if not name.startswith("cmd_"):
            continue
        tree = ast.parse(open(os.path.join(cli, name)).read())
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        assert not [m for m in imported if m.startswith("espnet_edge.cli.cmd_")], name
