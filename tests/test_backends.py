"""Opening runners from what the user names (one backend list, one set of rules), foreign ONNX files
included; the runtime never imports the host package."""

import ast
import os
import shutil

import cv2
import numpy as np
import onnx
import pytest

from conftest import CITYSCAPES_IMAGES, run_main
from espnet_edge.errors import UserError
from espnet_edge.backends import choices, open_runner, resolve, resolve_spec

FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000576_leftImg8bit.png")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, small_onnx):
    out = tmp_path_factory.mktemp("export")
    ours = out / "espnet-c-q3-256x128.onnx"
    shutil.copyfile(small_onnx, str(ours))
    model = onnx.load(str(ours))
    del model.metadata_props[:]
    foreign = out / "foreign.onnx"
    onnx.save(model, str(foreign))
    return ours, foreign


def test_backend_choice(exported):
    ours, _foreign = exported
    fake_engine = str(ours) + ".engine"
    assert resolve(onnx=str(ours)).backend == "onnxruntime"
    assert resolve(onnx=str(ours), backend="tensorrt").backend == "tensorrt"
    assert resolve(model="espnet").backend == "onnxruntime"
    assert resolve(model="espnet", backend="torch").backend == "torch"
    assert resolve(model="espnet", onnx=str(ours)).info.name == "espnet-q8"
    with pytest.raises(UserError, match="name one"):
        resolve(onnx="a.onnx", engine="b.engine")
    with pytest.raises(UserError, match="name --model NAME"):
        resolve()
    with pytest.raises(UserError, match="tensorrt backend"):
        resolve(backend="onnxruntime", engine=fake_engine)
    with pytest.raises(UserError, match="runs zoo models"):
        resolve(backend="torch", onnx=str(ours))
    with pytest.raises(UserError, match="unknown backend 'tvm'"):
        resolve(model="espnet", backend="tvm")
    with pytest.raises(UserError, match="does not exist"):
        resolve(onnx=str(ours) + ".missing.onnx")
    with pytest.raises(UserError, match="at least 1"):
        resolve(model="espnet", batch=0)


def test_one_backend_list_everywhere():
    from espnet_edge.cli.main import build_parser
    from espnet_edge.runtime.base import BACKENDS

    assert choices() == ("auto",) + tuple(BACKENDS)
    assert {"torch", "onnxruntime", "tensorrt"} <= set(BACKENDS)
    parser = build_parser()
    for command in ("segment", "bench", "eval", "demo", "profile", "sweep"):
        sub = parser._subparsers._group_actions[0].choices[command]
        backend = [a for a in sub._actions if a.dest == "backend"][0]
        assert tuple(backend.choices) == choices(), command


def test_a_bare_model_means_the_same_in_every_command(exported):
    ours, _foreign = exported
    # segment/bench/eval/... resolve --model NAME; compare resolves the bare string NAME
    assert resolve_spec("espnet-c-q3") == resolve(model="espnet-c-q3")
    assert resolve_spec("torch:espnet-c-q3") == resolve(model="espnet-c-q3", backend="torch")
    assert resolve_spec(str(ours)) == resolve(onnx=str(ours))
    assert resolve_spec("tensorrt:" + str(ours)).backend == "tensorrt"
    with pytest.raises(UserError, match="not an .onnx file or an engine"):
        resolve_spec(str(ours.parent / "weights.pth"))


def _imports(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            if node.args and isinstance(node.args[0], ast.Str):
                yield node.args[0].s
        elif isinstance(node, ast.Str) and node.s.startswith("espnet_edge.host"):
            yield node.s  # a "module:function" name in a registry is a dependency too


def test_runtime_never_imports_host():
    import espnet_edge.runtime

    root = os.path.dirname(espnet_edge.runtime.__file__)
    scanned, offenders = 0, []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                scanned += 1
                offenders += ["{}: {}".format(os.path.relpath(path, root), m) for m in _imports(path)
                              if m == "espnet_edge.host" or m.startswith("espnet_edge.host.")]
    assert scanned >= 10
    assert offenders == []


def test_the_scan_sees_a_host_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from espnet_edge.host.export import pipeline\n"
                      "X = {'torch': 'espnet_edge.host.torch_runner:TorchRunner'}\n")
    assert list(_imports(str(sample))) == ["espnet_edge.host.export", "espnet_edge.host.torch_runner:TorchRunner"]


def test_foreign_onnx_says_what_is_missing(exported):
    _ours, foreign = exported
    with pytest.raises(UserError) as info:
        open_runner(onnx=str(foreign))
    assert "no espnet-edge metadata" in str(info.value) and "--model NAME" in str(info.value)


def test_foreign_onnx_runs_with_the_zoo_entry(exported, tmp_path):
    ours, foreign = exported
    masks = {}
    for label, path, extra in (("ours", ours, []), ("foreign", foreign, ["--model", "espnet-c-q3", "--size", "256x128"])):
        out = tmp_path / label
        result = run_main("segment", "--onnx", path, *extra, "--out", out, FRAME)
        assert result.returncode == 0, result.stderr
        masks[label] = cv2.imread(str(out / "frankfurt_000000_000576_leftImg8bit.png"), cv2.IMREAD_UNCHANGED)
    assert masks["ours"].shape == (1024, 2048)
    assert np.array_equal(masks["ours"], masks["foreign"])
