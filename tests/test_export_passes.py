"""Our ONNX graph passes: BatchNorm folding into Conv and constant folding of static shapes."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from espnet_edge.host.export import graph_passes


def _run(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _conv_bn_model():
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32), "w"),
             numpy_helper.from_array(rng.randn(4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.rand(4).astype(np.float32) + 0.5, "scale"),
             numpy_helper.from_array(rng.randn(4).astype(np.float32), "shift"),
             numpy_helper.from_array(rng.randn(4).astype(np.float32), "mean"),
             numpy_helper.from_array(rng.rand(4).astype(np.float32) + 0.1, "var")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["y"],
                              epsilon=1e-3, name="bn")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)


def test_fold_batchnorm_into_conv_keeps_outputs():
    model = _conv_bn_model()
    x = np.random.RandomState(1).randn(1, 3, 8, 8).astype(np.float32)
    expected = _run(model, {"x": x})[0]
    folded, count, left = graph_passes.fold_batchnorm(model)
    assert count == 1 and left == 0
    assert [n.op_type for n in folded.graph.node] == ["Conv"]
    np.testing.assert_allclose(_run(folded, {"x": x})[0], expected, atol=1e-4)


def test_fold_constants_removes_shape_arithmetic():
    # y = Reshape(x, Concat(Shape(x)[0:2], [-1])) : all computable from the static input shape
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "st", "en"], ["s2"]),
             helper.make_node("Concat", ["s2", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "st"),
             numpy_helper.from_array(np.array([2], np.int64), "en"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    x = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    cleaned, stats = graph_passes.clean(model)
    assert [n.op_type for n in cleaned.graph.node] == ["Reshape"]
    assert stats["constants_folded"] == 3
    np.testing.assert_array_equal(_run(cleaned, {"x": x})[0], x.reshape(2, 3, 20))
