"""OnnxRuntimeRunner on small graphs built here (no export needed): metadata, info, providers, errors."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
from espnet_edge.runtime.segmenter import Segmenter


def _identity_logits(path, with_metadata=True):
    """A 'network' whose logits are its input's 3 channels, so the mask is the argmax channel."""
    node = helper.make_node("Identity", ["input"], ["logits"])
    shape = [1, 3, 16, 32]
    graph = helper.make_graph([node], "id", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    entry = zoo.get_model("espnet-q8")
    info = ModelInfo(name="toy", classes=entry.classes[:3], palette=entry.palette[:3], input_size=(32, 16),
                     preprocess=entry.preprocess)
    if with_metadata:
        for key, value in info.to_metadata().items():
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
    path.write_bytes(model.SerializeToString())
    return str(path), info


def test_runner_reads_metadata_and_infers(tmp_path):
    path, _ = _identity_logits(tmp_path / "toy.onnx")
    runner = OnnxRuntimeRunner(path, threads=1)
    assert runner.backend == "onnxruntime" and runner.info.name == "toy"
    assert runner.info.input_shape == (1, 3, 16, 32)
    batch = np.random.RandomState(0).randn(1, 3, 16, 32).astype(np.float32)
    np.testing.assert_array_equal(runner.infer(batch), batch)
    described = runner.describe()
    assert described["providers"] == ["CPUExecutionProvider"] or "CPUExecutionProvider" in described["providers"]
    mask = Segmenter(runner).postprocess(runner.infer(batch))
    np.testing.assert_array_equal(mask[0], batch[0].argmax(0))


def test_foreign_file_needs_info(tmp_path):
    path, info = _identity_logits(tmp_path / "foreign.onnx", with_metadata=False)
    with pytest.raises(UserError, match="no espnet-edge metadata"):
        OnnxRuntimeRunner(path)
    assert OnnxRuntimeRunner(path, info=info).info.name == "toy"


def test_missing_provider_and_bad_files(tmp_path):
    path, _ = _identity_logits(tmp_path / "toy.onnx")
    with pytest.raises(UserError, match="has no NoSuchExecutionProvider"):
        OnnxRuntimeRunner(path, providers=["NoSuchExecutionProvider"])
    with pytest.raises(UserError, match="does not exist"):
        OnnxRuntimeRunner(str(tmp_path / "missing.onnx"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07\x12\x05hello" + b"\xff" * 40)
    with pytest.raises(UserError, match="truncated or not an ONNX model|holds no graph"):
        OnnxRuntimeRunner(str(garbage))


def _conv_prelu_logits(path):
    """Conv -> PRelu (slopes negative, between 0 and 1, and above 1) -> logits, with metadata."""
    from onnx import numpy_helper

    rng = np.random.RandomState(3)
    weight = rng.randn(3, 3, 3, 3).astype(np.float32)
    slope = np.array([-0.7, 0.25, 1.5], dtype=np.float32).reshape(3, 1, 1)
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c", "slope"], ["logits"])]
    shape = [1, 3, 16, 32]
    graph = helper.make_graph(nodes, "prelu", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape)],
                              initializer=[numpy_helper.from_array(weight, "w"),
                                           numpy_helper.from_array(slope, "slope")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    entry = zoo.get_model("espnet-q8")
    info = ModelInfo(name="toy-prelu", classes=entry.classes[:3], palette=entry.palette[:3], input_size=(32, 16),
                     preprocess=entry.preprocess)
    for key, value in info.to_metadata().items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    path.write_bytes(model.SerializeToString())
    return str(path), model


def test_cpu_session_rewrites_prelu_with_same_results(tmp_path):
    import onnx
    import onnxruntime as ort

    from espnet_edge.runtime.onnxruntime_runner import prelu_as_relus

    path, model = _conv_prelu_logits(tmp_path / "prelu.onnx")
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert prelu_as_relus(rewritten) == 1
    ops = [n.op_type for n in rewritten.graph.node]
    assert "PRelu" not in ops and ops.count("Relu") == 2
    assert "slope" not in set(i.name for i in rewritten.graph.initializer)
    onnx.checker.check_model(rewritten, full_check=True)

    runner = OnnxRuntimeRunner(path, threads=1)
    assert runner.describe()["cpu_rewrites"] == {"prelu_as_relus": 1}
    batch = np.random.RandomState(4).randn(1, 3, 16, 32).astype(np.float32)
    plain = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": batch})[0]
    got = runner.infer(batch)
    assert (plain < 0).any() and (plain > 0).any()  # both PRelu branches are exercised
    np.testing.assert_allclose(got, plain, atol=1e-5, rtol=0)
    # the file itself still holds the PRelu (TensorRT runs it natively)
    assert "PRelu" in [n.op_type for n in onnx.load(path).graph.node]


def test_session_workers_do_not_spin(tmp_path):
    """Spinning workers take the cores from a pipeline's capture and render threads (docs/bench.md)."""
    path, _ = _identity_logits(tmp_path / "toy.onnx")
    runner = OnnxRuntimeRunner(path, threads=2)
    assert runner.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert runner.describe()["intra_op_spinning"] is False
