"""The TensorRT operator check: the built-in table against the real matrix, and crafted graphs
that TensorRT 8.2 would reject."""

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import TRT_SUPPORT, run_main
from espnet_edge.errors import UserError
from espnet_edge.runtime import trt_support


def _model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "crafted", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7)


def _fvi(name, dtype=TensorProto.FLOAT, shape=(1, 3, 8, 8)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _relu_model(opset=13, dtype=TensorProto.FLOAT):
    return _model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [_fvi("x", dtype)],
                  [_fvi("y", dtype)], opset=opset)


def _save(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return str(path)


@pytest.fixture(scope="module")
def matrix(shared):
    with open(TRT_SUPPORT) as handle:
        return json.load(handle)


@pytest.mark.parametrize("version", sorted(trt_support.BUILTIN))
def test_builtin_table_agrees_with_the_shared_matrix(matrix, version):
    builtin = trt_support.BUILTIN[version]
    section = matrix[version]
    assert trt_support.parse_opset_note(section["opset_note"]) == (builtin["min_opset"], builtin["max_opset"])
    assert trt_support.parse_data_types_note(section["data_types_note"]) == set(builtin["data_types"])
    for op, facts in builtin["operators"].items():
        real = section["operators"][op]
        assert facts["supported"] == real["supported"], (version, op)
        assert sorted(facts["types"]) == sorted(real["types"]), (version, op)
        # every restriction the real matrix states is one the built-in table carries
        assert bool(facts["restrictions"]) == bool(real["restrictions"]), (version, op)
    resize = section["operators"]["Resize"]["restrictions"]
    for mode in trt_support._RESIZE_COORDS + trt_support._RESIZE_MODES + trt_support._NEAREST_MODES:
        assert "`{}`".format(mode) in resize


def test_version_aliases():
    assert trt_support.resolve_version("10") == "10.x-main"
    assert trt_support.resolve_version("8.2.1") == "8.2"
    with pytest.raises(UserError, match="unknown TensorRT version"):
        trt_support.resolve_version("7.1")


@pytest.mark.parametrize("support", [None, TRT_SUPPORT])
def test_plain_graph_passes_both_tables(support, shared):
    table, issues = trt_support.check_model(_relu_model(), "8.2", support)
    assert issues == []
    assert table.max_opset == 13


@pytest.mark.parametrize("support", [None, TRT_SUPPORT])
def test_unsupported_op_is_named(support, shared):
    model = _model([helper.make_node("NonZero", ["x"], ["y"], name="where_nonzero")], [_fvi("x")],
                   [helper.make_tensor_value_info("y", TensorProto.INT64, [4, None])])
    _table, issues = trt_support.check_model(model, "8.2", support)
    assert any(i.node == "where_nonzero" and i.op == "NonZero" for i in issues)
    with pytest.raises(UserError, match="where_nonzero.*NonZero"):
        trt_support.require_supported(model, "8.2", support)
    # TensorRT 10 parses NonZero (and INT64 outputs)
    assert trt_support.check_model(model, "10", support)[1] == []


def test_opset_17_fails_on_82_but_passes_on_86(shared):
    model = _relu_model(opset=17)
    issues = trt_support.check_model(model, "8.2", TRT_SUPPORT)[1]
    assert len(issues) == 1 and "opset 17" in str(issues[0])
    assert trt_support.check_model(model, "8.6", TRT_SUPPORT)[1] == []


def test_uint8_input_is_rejected_on_82_only(shared):
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT, name="to_float")],
                   [_fvi("x", TensorProto.UINT8)], [_fvi("y")])
    issues = trt_support.check_model(model, "8.2", TRT_SUPPORT)[1]
    assert any("UINT8" in str(i) for i in issues)
    assert trt_support.check_model(model, "10", TRT_SUPPORT)[1] == []


def _qdq_model(zero_point, dtype=np.int8):
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
             numpy_helper.from_array(np.array(zero_point, dtype), "zero")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], name="quant"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], name="dequant")]
    return _model(nodes, [_fvi("x")], [_fvi("y")], inits)


def test_qdq_zero_point_must_be_zero(shared):
    assert trt_support.check_model(_qdq_model(0), "8.2", TRT_SUPPORT)[1] == []
    issues = trt_support.check_model(_qdq_model(3), "8.2", TRT_SUPPORT)[1]
    assert {i.node for i in issues} == {"quant", "dequant"}
    assert all("zero point must be 0" in i.message for i in issues)
    uint8 = trt_support.check_model(_qdq_model(0, np.uint8), "8.2", TRT_SUPPORT)[1]
    assert uint8 and all("UINT8" in str(i) for i in uint8)


def test_resize_cubic_is_rejected(shared):
    inits = [numpy_helper.from_array(np.array([], np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="cubic", name="up")
    model = _model([node], [_fvi("x")], [_fvi("y", shape=(1, 3, 16, 16))], inits)
    issues = trt_support.check_model(model, "8.2", TRT_SUPPORT)[1]
    assert len(issues) == 1 and "cubic" in str(issues[0]) and issues[0].node == "up"


def test_env_var_and_missing_file(tmp_path, monkeypatch, shared):
    monkeypatch.setenv(trt_support.ENV_VAR, TRT_SUPPORT)
    assert trt_support.load_support("8.2").source == TRT_SUPPORT
    monkeypatch.setenv(trt_support.ENV_VAR, str(tmp_path / "nope.json"))
    with pytest.raises(UserError, match="does not exist"):
        trt_support.load_support("8.2")


@pytest.mark.slow
def test_check_onnx_cli(tmp_path, shared):
    good = _save(tmp_path, _relu_model(), "good.onnx")
    bad = _save(tmp_path, _relu_model(opset=17), "bad.onnx")
    ok = run_main("check-onnx", good, "--support", TRT_SUPPORT)
    assert ok.returncode == 0 and "passes" in ok.stdout
    fail = run_main("check-onnx", bad, "--json", "--support", TRT_SUPPORT)
    assert fail.returncode == 1
    data = json.loads(fail.stdout)
    assert data["passed"] is False and "opset 17" in data["issues"][0]["message"]
    assert run_main("check-onnx", bad, "--trt", "8.6", "--support", TRT_SUPPORT).returncode == 0
    truncated = tmp_path / "trunc.onnx"
    truncated.write_bytes(open(good, "rb").read()[:-7])
    result = run_main("check-onnx", str(truncated))
    assert result.returncode == 2 and "truncated" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["espnet-c-q3", "espnetv2-s0.5-city-512"])
@pytest.mark.parametrize("trt", ["8.2", "10"])
def test_frame_graphs_pass_the_builtin_table(tmp_path, name, trt):
    """What `export --fuse-pre --input-size --fuse-overlay` writes passes the check without a
    --support file (the ESPNetv2 frame graph's Pillow pass needs Squeeze/Unsqueeze)."""
    pytest.importorskip("torch")
    import onnx

    from espnet_edge import zoo
    from espnet_edge.host.export import pipeline

    extra = dict(frame_dtype="uint8", trt_version="10") if trt == "10" else {}
    report = pipeline.export_model(zoo.get_model(name), size=(128, 64), fuse_pre=True, input_size=(512, 256),
                                   overlay_alpha=0.5, out_dir=str(tmp_path), support=None, **extra)
    ops = set(node.op_type for node in onnx.load(report["onnx"]).graph.node)
    table, issues = trt_support.check_model(onnx.load(report["onnx"]), trt, None)
    assert issues == [] and table.source == "built-in"
    assert ops <= set(trt_support.BUILTIN[trt_support.resolve_version(trt)]["operators"])
