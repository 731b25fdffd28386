"""The size bars (docs/DEVELOPING.md, "Small modules"): no function over 80 lines and no module over 500 lines
in the package and scripts/, except the data tables named below (facts, not logic). Measured from the
source (ast): a function's lines run from its `def` to its last line, decorators and docstring included."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500
# modules that are data tables: path -> what they hold
DATA_TABLES = {
    "espnet_edge/jetson/boards.py": "board facts per Jetson module and L4T release, each with its source",
}


def _python_files():
    for top in ("espnet_edge", "scripts"):
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(folder, name), ROOT).replace(os.sep, "/")


FILES = sorted(_python_files())


def _long_functions(source, limit=MAX_FUNCTION_LINES):
    return ["{} ({} lines)".format(node.name, node.end_lineno - min([node.lineno] + [d.lineno for d in
                                                                                     node.decorator_list]) + 1)
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - min([node.lineno] + [d.lineno for d in node.decorator_list]) + 1 > limit]


def _read(path):
    with open(os.path.join(ROOT, path)) as handle:
        return handle.read()


def test_the_rule_sees_a_long_function():
    body = "".join("    x = {}\n".format(i) for i in range(80))
    assert _long_functions("def f():\n" + body) == ["f (81 lines)"]
    assert _long_functions("def f():\n" + body[:-len("    x = 79\n")]) == []
    assert len(FILES) > 150


def test_data_tables_exist():
    assert all(path in FILES for path in DATA_TABLES)


@pytest.mark.parametrize("path", FILES)
def test_functions_and_modules_are_small(path):
    source = _read(path)
    assert _long_functions(source) == [], "{}: split these functions (at most {} lines)".format(
        path, MAX_FUNCTION_LINES)
    if path not in DATA_TABLES:
        lines = len(source.splitlines())
        assert lines <= MAX_MODULE_LINES, "{} has {} lines (at most {}): split it by what it holds".format(
            path, lines, MAX_MODULE_LINES)
