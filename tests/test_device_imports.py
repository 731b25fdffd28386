"""The device side must import, and the CLI must start, on a machine without torch (a Jetson)."""

import os
import pkgutil
import subprocess
import sys

from conftest import ROOT

BLOCKER = r"""
import sys
class _NoTorch(object):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked for this test")
        return None
    find_module = None
sys.meta_path.insert(0, _NoTorch())
"""


def device_modules():
    import espnet_edge

    names = []
    for info in pkgutil.walk_packages(espnet_edge.__path__, "espnet_edge."):
        if info.name.startswith("espnet_edge.host"):
            continue
        names.append(info.name)
    return names


def run_blocked(code):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", BLOCKER + code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=300)


def test_blocker_really_blocks_torch():
    result = run_blocked("import torch")
    assert result.returncode != 0
    assert "torch is blocked" in result.stderr


def test_every_device_module_imports_without_torch():
    modules = device_modules()
    assert "espnet_edge.runtime.segmenter" in modules and "espnet_edge.cli.main" in modules
    code = (
        "import importlib\n"
        "for name in {!r}:\n"
        "    importlib.import_module(name)\n"
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules)\n"
        "print('imported', len({!r}))\n"
    ).format(modules, modules)
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert "imported {}".format(len(modules)) in result.stdout


def test_cli_help_for_every_command_without_torch():
    from espnet_edge.cli.main import COMMANDS

    code = (
        "from espnet_edge.cli.main import build_parser\n"
        "parser = build_parser()\n"
        "choices = parser._subparsers._group_actions[0].choices\n"
        "print(' '.join(sorted(choices)))\n"
        "for name, sub in choices.items():\n"
        "    assert sub.format_help().startswith('usage:'), name\n"
    )
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    registered = set(result.stdout.split())
    assert {"models", "segment", "doctor"} <= registered
    assert registered <= {name for name, _module in COMMANDS}
