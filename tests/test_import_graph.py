"""The package's import graph, read from the source (ast), not by importing: the floors of
docs/DEVELOPING.md ("The layers") with no import pointing up, no cycle among module-level imports, and an
import of one of our own modules at the top of its module unless moving it there would close a cycle or
load a third-party library (numpy, cv2, torch, onnx, tensorrt, ...) that the module does not load
already. The one exception is the public facade espnet_edge/api.py: `import espnet_edge` (and so every
CLI start, cli/main.py) loads it, and it loads its work when called."""

import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "espnet_edge"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# modules whose own imports stay inside functions on purpose: name -> why
LAZY_BY_DESIGN = {
    "espnet_edge.api": "the facade `import espnet_edge` loads: it stays a few modules, its work loads when called",
}


# the floors, lowest first: a module imports its own floor and the ones below (docs/DEVELOPING.md)
FLOORS = (
    ("base", ("espnet_edge.errors", "espnet_edge.defaults", "espnet_edge.paths", "espnet_edge.utils")),
    ("facts", ("espnet_edge.published", "espnet_edge.zoo", "espnet_edge.weights", "espnet_edge.images",
               "espnet_edge.preprocess", "espnet_edge.visualize")),
    ("jetson", ("espnet_edge.jetson",)),
    ("runtime", ("espnet_edge.runtime",)),
    ("backends", ("espnet_edge.backends", "espnet_edge.segmentation")),
    ("profiler", ("espnet_edge.profiler",)),
    ("apps", ("espnet_edge.apps",)),
    ("host", ("espnet_edge.host",)),
    ("api", ("espnet_edge.api",)),
    ("cli", ("espnet_edge.cli", "espnet_edge.__main__")),
)
# imports that point up on purpose: (importer, imported) -> why
UPWARD = {
    ("espnet_edge.backends", "espnet_edge.host.models"): "the host package's --size rule, where it is installed "
                                                        "(inside a function, ImportError tolerated)",
}


def floor_of(module):
    """-> the index of ``module``'s floor; the package itself (``espnet_edge``: __version__) is below all."""
    if module == PKG:
        return -1
    for index, (_name, prefixes) in enumerate(FLOORS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


def _module_name(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def _modules():
    found = {}
    for folder, _dirs, files in os.walk(os.path.join(ROOT, PKG)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _targets(node, module):
    """-> (our modules, third-party top-level names) an import statement loads."""
    own, third = [], []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        own = [name for name in names if name.split(".")[0] == PKG]
        third = [name.split(".")[0] for name in names if name.split(".")[0] not in STDLIB | {PKG}]
        return [name for name in own if name in MODULES], third
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        if not MODULES[module].endswith("__init__.py"):
            parts = parts[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    top = base.split(".")[0]
    if top == PKG:
        own = [base + "." + a.name if base + "." + a.name in MODULES else base for a in node.names]
    elif top not in STDLIB:
        third = [top]
    return [name for name in own if name in MODULES], third


def _scan(module):
    """-> (module-level own imports, module-level third-party imports, [(line, own, third)] in functions)."""
    with open(MODULES[module]) as handle:
        tree = ast.parse(handle.read())
    top_own, top_third, inner = set(), set(), []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                own, third = _targets(child, module)
                if in_function:
                    inner.append((child.lineno, own, third))
                else:
                    top_own.update(own)
                    top_third.update(third)
            walk(child, nested)

    walk(tree, False)
    return top_own, top_third, inner


SCANS = dict((module, _scan(module)) for module in MODULES)


def _closure(module):
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(SCANS[name][0])
    return seen


def _third_party(module):
    return set().union(*[SCANS[name][1] for name in _closure(module)])


def _cycles():
    """Strongly connected components of more than one module (Tarjan, iterative-enough for ~200 modules)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(name):
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for other in SCANS[name][0]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in on_stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(MODULES):
        if name not in index:
            visit(name)
    return found


def test_the_graph_is_read():
    # the scan sees what it must: the CLI imports its argument groups, the runtime its base
    assert "espnet_edge.cli.args" in SCANS["espnet_edge.cli.cmd_bench"][0]
    assert "espnet_edge.runtime.base" in _closure("espnet_edge.backends")
    assert "numpy" in _third_party("espnet_edge.runtime.segmenter")
    assert len(MODULES) > 150


def test_every_module_has_a_floor():
    assert [module for module in MODULES if floor_of(module) is None] == []


def test_no_import_points_up():
    """Module-level and function-level imports alike: a lazy import is no way around the floors."""
    upward = []
    for module, (top, _third, inner) in SCANS.items():
        if module == PKG:
            continue   # the package re-exports the API (espnet_edge/__init__.py)
        for target in sorted(top) + [target for _line, own, _t in inner for target in own]:
            if floor_of(target) > floor_of(module) and (module, target) not in UPWARD:
                upward.append("{} ({}) -> {} ({})".format(module, FLOORS[floor_of(module)][0], target,
                                                          FLOORS[floor_of(target)][0]))
    assert upward == []


def test_no_import_cycle():
    assert _cycles() == []


def test_a_cycle_would_be_found():
    # the check itself: a back edge from the errors module to the CLI closes a cycle through cli.main
    SCANS["espnet_edge.errors"][0].add("espnet_edge.cli.main")
    try:
        assert any("espnet_edge.errors" in component for component in _cycles())
    finally:
        SCANS["espnet_edge.errors"][0].discard("espnet_edge.cli.main")


@pytest.mark.parametrize("module", sorted(set(MODULES) - set(LAZY_BY_DESIGN)))
def test_own_imports_at_the_top(module):
    """An import of our own module inside a function is there for a reason: at the top it would close a
    cycle, or load a third-party library this module does not load (device side: torch-free; `--help`:
    no numpy), or it is itself an import of a third-party library."""
    _own, _third, inner = SCANS[module]
    loads = _third_party(module)
    movable = []
    for line, own, third in inner:
        if not own or third:
            continue
        if any(module in _closure(target) for target in own):
            continue   # a cycle at the top
        if any(_third_party(target) - loads for target in own):
            continue   # a library this module does not load yet
        movable.append("line {}: {}".format(line, ", ".join(own)))
    assert not movable, "{}: move these imports to the top of the module: {}".format(module, "; ".join(movable))
