"""The CLI imports only the command it runs: `espnet-edge --help` lists every command from the summaries
in cli/main.py and `espnet-edge tegrastats LOG` imports cmd_tegrastats alone, neither loads numpy,
OpenCV, torch, ONNX or matplotlib (benchmarks/bench_cli_startup.py measures the time)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, TEGRASTATS_DIR
from espnet_edge.cli.main import COMMANDS, SUMMARIES, build_parser

HEAVY = ("numpy", "cv2", "torch", "onnx", "onnxruntime", "tensorrt", "matplotlib", "PIL")
LOG = os.path.join(TEGRASTATS_DIR, "tx2-4gb-family_jp4.6_1.txt")


# the command as `python -m espnet_edge ARGV` runs it in a fresh process, then every module it imported
# (the benchmark's own script: the test checks what the benchmark measures)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from bench_cli_startup import RUN  # noqa: E402


def imported(tmp_path, *argv):
    """Module names the command imports, and its stdout."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    names = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", RUN, str(names)] + list(argv), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(names.read_text()), proc.stdout


@pytest.mark.parametrize("argv, command_module", [
    (["--help"], None),
    (["tegrastats", LOG], "espnet_edge.cli.cmd_tegrastats"),
])
def test_start_up_imports_only_what_the_command_needs(shared, tmp_path, argv, command_module):
    names, out = imported(tmp_path, *argv)
    assert out.strip()
    commands = [name for name in names if name.startswith("espnet_edge.cli.cmd_")]
    assert commands == ([command_module] if command_module else [])
    assert not [name for name in names if name.split(".")[0] in HEAVY]


def test_summaries_are_what_every_command_says():
    """The one-line help --help lists without importing a command is the command's own."""
    choices = build_parser()._subparsers._group_actions[0]
    helps = dict((action.dest, action.help) for action in choices._choices_actions)
    assert set(SUMMARIES) == set(helps) == {name for name, _module in COMMANDS}
    assert helps == SUMMARIES


def test_help_without_the_command_modules_is_the_full_help():
    assert build_parser(only=None).format_help() == build_parser().format_help()
    only_bench = build_parser(only="bench")._subparsers._group_actions[0].choices
    assert only_bench["bench"].format_help() == build_parser()._subparsers._group_actions[0].choices[
        "bench"].format_help()
