"""The CLI's argument groups (espnet_edge/cli/args.py) are shared: walking the real parsers of every
command, one flag has one help, type and default (from espnet_edge/defaults.py), sits under its group's
title, and the parser itself refuses bad frequencies."""
import argparse
import collections
import inspect

import pytest

from conftest import run_main
from espnet_edge import defaults
from espnet_edge.cli import args as cli_args
from espnet_edge.cli import validate
from espnet_edge.cli.main import COMMANDS, build_parser

# flags that mean different things in different commands, each told by its own help text
DIFFERENT_MEANINGS = {
    "--duration": "bench: time instead of --iters; profile/sweep: the measured phase",
    "--fp16": "export: write an fp16 graph; build: allow fp16 kernels",
    "--int8": "export: write a QDQ graph; build: an INT8 engine",
    "--images": "bench: end-to-end frames; compare: the test images; export: verification images",
    "--kernels": "profile: run under nvprof/ncu; report: kernels.json files",
    "--from-logs": "sweep: rebuild from runs; report: more runs",
    "--source": "profile/sweep: sample source; demo: the camera or video",
    "--out": "a folder or file whose role is the command's (help per command, metavar DIR or FILE)",
}
# flags that come in kinds (the action class and metavar tell which); every kind has one definition
KINDS = {"--json": 2, "--freq": 2, "--model": 2, "--onnx": 2, "--engine": 2}
GROUP_OF = {
    cli_args.SOURCE_TITLE: ("--model", "--onnx", "--engine", "--backend", "--weights", "--size", "--batch",
                            "--threads"),
    cli_args.OUTPUT_TITLE: ("--out", "--json", "--alpha"),
    cli_args.CLOCK_TITLE: ("--freq", "--freqs", "--emc", "--settle-timeout"),
    cli_args.MEASURE_TITLE: ("--idle", "--interval", "--power-interval"),
    cli_args.TRT_CHECK_TITLE: ("--trt", "--support"),
}


@pytest.fixture(scope="module")
def commands():
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices


def _options(sub):
    """{flag: (action, group title)} of one command's own options (not -h, -v/-q)."""
    found = {}
    for group in sub._action_groups:
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction) or action.dest == "verbosity":
                continue
            for flag in action.option_strings:
                found[flag] = (action, group.title)
    return found


def _definition(action):
    return (action.help, action.type, repr(action.default), tuple(action.choices or ()), action.nargs)


def _kind(action):
    return (type(action).__name__, action.metavar)


def test_every_command_is_walked(commands):
    assert set(commands) == {name for name, _module in COMMANDS}


def test_one_flag_one_definition(commands):
    by_flag = collections.defaultdict(lambda: collections.defaultdict(dict))
    for name, sub in commands.items():
        for flag, (action, _title) in _options(sub).items():
            by_flag[flag][_kind(action)][name] = _definition(action)
    shared = {flag: kinds for flag, kinds in by_flag.items()
              if sum(len(c) for c in kinds.values()) > 1 and flag not in DIFFERENT_MEANINGS}
    # the groups are in use: these flags are taken by several commands
    assert {"--model", "--backend", "--weights", "--size", "--threads", "--freq", "--settle-timeout", "--json",
            "--warmup", "--alpha", "--trt"} <= set(shared)
    for flag, kinds in shared.items():
        assert len(kinds) == KINDS.get(flag, 1), (flag, dict(kinds))
        for kind, per_command in kinds.items():
            assert len(set(per_command.values())) == 1, (flag, kind, per_command)
    # the repeatable --model/--onnx/--engine of sweep say the same as the single ones
    for flag in ("--model", "--onnx", "--engine"):
        assert len({d[0] for c in by_flag[flag].values() for d in c.values()}) == 1, flag


def test_backend_model_and_freq_everywhere(commands):
    seen = collections.Counter()
    for name, sub in commands.items():
        options = _options(sub)
        if "--backend" in options:
            backend = options["--backend"][0]
            assert backend.default == "auto" and backend.help == cli_args.HELP["--backend"], name
            seen["--backend"] += 1
        if "--model" in options:
            assert options["--model"][0].help == cli_args.HELP["--model"] and options["--model"][0].metavar == "NAME"
            seen["--model"] += 1
        if "--freq" in options:
            freq = options["--freq"][0]
            assert freq.type in (validate.mhz, validate.mhz_list) and freq.default is None, name
            seen["--freq"] += 1
        for flag, key in (("--weights", "--weights"), ("--size", "--size"), ("--threads", "--threads")):
            if flag in options:
                action = options[flag][0]
                assert action.help == cli_args.HELP[key], (name, flag)
                seen[flag] += 1
        if "--size" in options:
            assert options["--size"][0].type is validate.size_text, name
        if "--threads" in options:
            assert options["--threads"][0].type is validate.positive_int, name
    assert seen["--backend"] == 6 and seen["--model"] == 7 and seen["--freq"] == 2
    assert seen["--size"] == 8 and seen["--weights"] == 8 and seen["--threads"] == 7


def test_flags_sit_under_their_group_titles(commands):
    for name, sub in commands.items():
        options = _options(sub)
        for title, flags in GROUP_OF.items():
            for flag in flags:
                if flag in options:
                    assert options[flag][1] == title, (name, flag, options[flag][1])
        text = sub.format_help()
        for title in {options[flag][1] for flag in options if any(flag in f for f in GROUP_OF.values())}:
            assert "\n{}:".format(title) in text, (name, title)


@pytest.mark.parametrize("command, titles", [
    ("bench", [cli_args.SOURCE_TITLE, cli_args.CLOCK_TITLE, cli_args.OUTPUT_TITLE]),
    ("sweep", [cli_args.SOURCE_TITLE, cli_args.MEASURE_TITLE, cli_args.CLOCK_TITLE, cli_args.OUTPUT_TITLE]),
])
def test_help_shows_the_group_titles(command, titles):
    result = run_main(command, "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for title in titles:
        assert title + ":" in lines, (command, title)


def test_defaults_come_from_defaults_py(commands):
    def default(command, dest):
        return commands[command].get_default(dest)

    assert default("bench", "batch") == default("export", "batch") == defaults.BATCH
    assert default("bench", "warmup") == default("profile", "warmup") == default("sweep", "warmup") == defaults.WARMUP
    assert default("bench", "settle_timeout") == default("profile", "settle_timeout") == defaults.SETTLE_TIMEOUT_S
    assert default("segment", "alpha") == default("demo", "alpha") == default("export", "overlay_alpha") \
        == defaults.OVERLAY_ALPHA
    assert default("profile", "idle") == defaults.PROFILE_IDLE_S
    assert default("sweep", "duration") == defaults.PROFILE_DURATION_S
    assert default("profile", "interval") == defaults.SAMPLE_INTERVAL_MS
    assert default("sweep", "power_interval") == defaults.POWER_INTERVAL_MS
    assert "(default 100)" in commands["bench"].format_help().replace("\n", " ")  # --iters


def test_the_library_defaults_have_the_same_values():
    """The library's keyword defaults that the CLI options stand for (values; the library modules
    keep their own constants)."""
    from espnet_edge import visualize
    from espnet_edge.profiler import power_node, profile, samplers
    from espnet_edge.runtime import benchmark

    assert inspect.signature(benchmark.run_benchmark).parameters["warmup"].default == defaults.WARMUP
    assert benchmark.check_timing(None, None, 0) == defaults.BENCH_ITERS
    assert profile.SETTLE_TIMEOUT_S == defaults.SETTLE_TIMEOUT_S
    assert inspect.signature(visualize.overlay).parameters["alpha"].default == defaults.OVERLAY_ALPHA
    assert power_node.DEFAULT_INTERVAL_MS == defaults.POWER_INTERVAL_MS
    assert inspect.signature(samplers.make_sampler).parameters["interval_ms"].default == defaults.SAMPLE_INTERVAL_MS


def _parse_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_frequencies_are_checked_by_the_parser(capsys):
    parse = build_parser().parse_args
    assert parse(["bench", "--freq", "828,1300"]).freq == [828, 1300]
    assert parse(["profile", "--freq", "828", "--emc", "1600"]).freq == 828
    assert parse(["sweep", "--freqs", "114, 828"]).freqs == [114, 828]
    assert "argument --freq: frequency 828 MHz appears twice" in _parse_error(capsys, ["bench", "--freq", "828,828"])
    assert "argument --freq: give one frequency in MHz" in _parse_error(capsys, ["profile", "--freq", "828,1300"])
    assert "argument --freqs: malformed frequency list '114,,828'" in _parse_error(
        capsys, ["sweep", "--freqs", "114,,828"])
    assert "argument --emc: '0' is not a whole number of MHz above 0" in _parse_error(capsys, ["profile", "--emc", "0"])
    assert "argument MHZ: 'abc' is not a whole number of MHz" in _parse_error(capsys, ["clocks", "set", "abc"])
    assert build_parser().parse_args(["clocks", "set", "828"]).mhz == 828
    assert "argument --power-interval: must be 0 or more" in _parse_error(
        capsys, ["sweep", "--power-interval", "-5"])


def test_freqs_reader_checks_the_pins_before_any_work(tmp_path, monkeypatch):
    from sim_jetson import make_board_tree

    from espnet_edge.cli.common import freqs_from_args
    from espnet_edge.errors import UserError

    parse = build_parser().parse_args
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path / "none"))
    assert freqs_from_args(parse(["bench"])) == [] and freqs_from_args(parse(["sweep"])) == []
    with pytest.raises(UserError, match="--freqs needs a Jetson board"):
        freqs_from_args(parse(["sweep", "--freqs", "828,520"]))
    with pytest.raises(UserError, match="--freq needs a Jetson board"):
        freqs_from_args(parse(["profile", "--freq", "828"]))
    make_board_tree(str(tmp_path / "tx2"), board="tx2", release="32.7.1")
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path / "tx2"))
    assert freqs_from_args(parse(["profile", "--freq", "828"])) == [828]
    assert freqs_from_args(parse(["bench", "--freq", "1134,828"])) == [1134, 828]
    with pytest.raises(UserError, match="5000"):
        freqs_from_args(parse(["bench", "--freq", "828,5000"]))
