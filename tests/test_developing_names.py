"""docs/DEVELOPING.md names only what exists: every `backticked` file path and every module-qualified name
(`profiler/session.check_temperature`, `espnet_edge.runtime.base.Runner`, `run_record.Thermal.gpu_max_c`)
resolves in the source, read with ast (no import, so host modules need no torch). A name whose first part
is no module of ours (a flag, a metadata key, a shell line) is not checked; a short module name is any
module of that name (`pipeline.X`: apps/pipeline.py or host/export/pipeline.py), so write a variable's
attribute through its class (`runtime.base.Runner.timings`, not `runner.timings`)."""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "DEVELOPING.md")
PKG = os.path.join(ROOT, "espnet_edge")
SEARCHED = ("", "espnet_edge", "tests", "scripts", "benchmarks")   # where a relative path may start


def _module_files():
    """short and full dotted names -> the files they may mean: `espnet_edge.profiler.session`,
    `profiler.session`, `session`; `pipeline` is apps/pipeline.py and host/export/pipeline.py."""
    files = {}
    for folder, _dirs, names in os.walk(PKG):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                for start in range(len(parts)):
                    files.setdefault(".".join(parts[start:]), []).append(path)
    for folder in ("tests", "scripts", "benchmarks"):
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py"):
                for key in (folder + "." + name[:-3], name[:-3]):
                    files.setdefault(key, []).append(os.path.join(ROOT, folder, name))
    return files


FILES = _module_files()
_TREES = {}


def _tree(path):
    if path not in _TREES:
        with open(path) as handle:
            _TREES[path] = ast.parse(handle.read())
    return _TREES[path]


def _fields_of(node):
    """A class's fields: NamedTuple-style ("name", type) pairs in its bases' calls, ``self.X =`` in its
    methods."""
    names = set(inner.attr for inner in ast.walk(node) if isinstance(inner, ast.Attribute)
                and isinstance(inner.ctx, ast.Store) and isinstance(inner.value, ast.Name) and inner.value.id == "self")
    for base in node.bases:
        for inner in ast.walk(base):
            if isinstance(inner, ast.Tuple) and inner.elts and isinstance(inner.elts[0], ast.Constant) \
                    and isinstance(inner.elts[0].value, str):
                names.add(inner.elts[0].value)
    return names


def _defined(body):
    """name -> its node (def/class) or None (an assignment or an import) in a module or class body."""
    found = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        found[name.id] = None
                    elif isinstance(name, ast.Attribute):   # X.__new__.__defaults__ = ...
                        pass
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                found[(alias.asname or alias.name).split(".")[0]] = None
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in (getattr(node, "body", []), getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                found.update(_defined(block))
            for handler in getattr(node, "handlers", []):
                found.update(_defined(handler.body))
    return found


def _resolves(path, attrs):
    """Does the attribute chain ``attrs`` exist in the module at ``path``?"""
    if not attrs:
        return True
    scope = _defined(_tree(path).body)
    for index, name in enumerate(attrs):
        if name not in scope:
            return False
        node = scope[name]
        if index == len(attrs) - 1 or not isinstance(node, ast.ClassDef):
            return True   # a function's or an imported object's attributes are not followed
        scope = dict(_defined(node.body), **dict((field, None) for field in _fields_of(node)))
    return True


def _check(token):
    """None when ``token`` resolves or is not ours to check, else what is missing."""
    token = re.sub(r"\(.*\)$", "", token.strip()).rstrip(":")
    if not re.match(r"^[\w./]+$", token) or token.startswith(("-", ".", "/")) or "//" in token:
        return None
    if token.endswith((".py", ".md", ".json", ".csv", ".sh", ".txt")) or token.endswith("/"):
        if "/" not in token:
            return None   # a bare file name (summary.json): not a path to check
        for start in SEARCHED:
            if os.path.exists(os.path.join(ROOT, start, token)):
                return None
        if token.startswith(("../shared", "shared/")) or token.startswith(("profiles/", "export/")):
            return None
        return "no file " + token
    if "/" in token and any(os.path.exists(os.path.join(ROOT, start, token)) for start in SEARCHED):
        return None   # a folder
    parts = token.replace("/", ".").replace(".py.", ".").split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module in FILES and module != "espnet_edge":
            if any(_resolves(path, parts[cut:]) for path in FILES[module]):
                return None
            return "{}: no {} in {}".format(token, ".".join(parts[cut:]), ", ".join(
                os.path.relpath(path, ROOT) for path in FILES[module]))
    if "/" in token:
        return "{}: no such module".format(token)
    return None   # one word, or `espnet_edge.KEY` (an ONNX metadata key): not a module path


def _tokens():
    with open(DOC) as handle:
        text = handle.read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return sorted(set(re.findall(r"`([^`\n]+)`", text)))


def test_the_check_catches_what_does_not_exist():
    assert _check("profiler/session.check_temperature") is None
    assert _check("espnet_edge.runtime.base.Runner.infer") is None
    assert _check("run_record.Thermal.gpu_max_c") is None and _check("runtime.base.Runner.timings") is None
    assert _check("runtime/base.py") is None
    assert _check("profiler/session.check_temperatures") is not None
    assert _check("run_record.Thermal.gpu_peak_c") is not None
    assert _check("espnet_edge/profiler/nothing.py") is not None
    assert _check("pipeline.EXPORT_STAGES") is None   # host/export/pipeline.py, not apps/pipeline.py
    assert _check("runner.timings") is not None   # `runner` is a module: say `runtime.base.Runner.timings`
    assert _check("--freq") is None and _check("espnet_edge.frame_size") is None


@pytest.mark.parametrize("token", _tokens())
def test_developing_names_exist(token):
    problem = _check(token)
    assert problem is None, "docs/DEVELOPING.md names `{}`: {}".format(token, problem)
