"""One stderr handler for the module loggers: notes by default, --quiet keeps only warnings and errors,
--verbose adds debug lines; --verbose/--quiet go before or after the subcommand; user errors stay the
one line `espnet-edge CMD: error: MSG`. Real CLI subprocesses pinning the GPU clock of a simulated TX2."""
import pytest

from conftest import run_cli
from sim_jetson import make_board_tree, read_freqs

TX2_ORIGINAL = (114750000, 1300500000, "nvhost_podgov")


@pytest.fixture
def env(tmp_path):
    paths = make_board_tree(tmp_path, board="tx2", release="32.7.1", nvpmodel_mode=0)
    yield {"ESPNET_EDGE_SYSFS_ROOT": paths["root"]}
    assert read_freqs(paths) == TX2_ORIGINAL


def _set_and_restore(env, *flags, before=()):
    result = run_cli(*(list(before) + ["clocks", "set", "824"] + list(flags)), env=env)
    assert result.returncode == 0, result.stderr
    assert run_cli("clocks", "restore", "-q", env=env).returncode == 0
    return result.stderr.splitlines()


def test_default_shows_notes_and_warnings_not_debug(env):
    lines = _set_and_restore(env)
    assert "espnet-edge clocks: GPU clock: pinned 828.75 MHz on Jetson TX2" in lines, lines
    assert ("espnet-edge clocks: warning: GPU clock: requested 824 MHz, applied 828.75 MHz "
            "(nearest available_frequencies step)") in lines
    assert not any("debug:" in line for line in lines), lines


@pytest.mark.parametrize("where", ["after", "before"])
def test_quiet_keeps_only_warnings(env, where):
    lines = (_set_and_restore(env, "--quiet") if where == "after" else _set_and_restore(env, before=["-q"]))
    assert lines == ["espnet-edge clocks: warning: GPU clock: requested 824 MHz, applied 828.75 MHz "
                     "(nearest available_frequencies step)"]


@pytest.mark.parametrize("where", ["after", "before"])
def test_verbose_adds_debug_lines(env, where):
    lines = (_set_and_restore(env, "--verbose") if where == "after" else _set_and_restore(env, before=["-v"]))
    writes = [line for line in lines if line.startswith("espnet-edge clocks: debug: espnet_edge.jetson.clocks: write ")]
    assert any(line.endswith("828750000 > /sys/devices/17000000.gp10b/devfreq/17000000.gp10b/min_freq")
               for line in writes), lines
    assert any("GPU clock: pinned 828.75 MHz" in line for line in lines)


def test_user_error_stays_one_line_under_verbose_and_quiet(env):
    for flag in ("-v", "-q"):
        result = run_cli("clocks", "set", "abc", flag, env=env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("espnet-edge clocks: error: "), \
            result.stderr


def test_verbose_and_quiet_together_are_refused():
    result = run_cli("models", "-v", "-q")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
