"""A tiny espnet-edge ONNX file made without torch (onnx.helper), and its numpy reference.

Used by ``doctor --selftest`` (the first engine a new board builds) and by the bindings API test.
The network is one 1x1 convolution (3 -> classes channels, fixed weights) with espnet-edge metadata,
so every runtime path (build, calibrate, run, compare) sees a real espnet-edge ONNX file.
"""

import numpy as np

from espnet_edge import defaults
from espnet_edge.errors import MissingDependency
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.utils.atomic import write_bytes
from espnet_edge.zoo import get_model

TINY_SIZE = (16, 8)  # (width, height)
TINY_CLASSES = 4
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def tiny_weights(classes=TINY_CLASSES):
    """Deterministic weights [classes, 3] and bias [classes]; distinct per class so argmax is not flat."""
    weight = (np.arange(classes * 3, dtype=np.float32).reshape(classes, 3) - classes) / 4.0
    bias = np.linspace(-0.5, 0.5, classes).astype(np.float32)
    return weight, bias


def reference(batch, classes=TINY_CLASSES):
    """numpy result of the tiny network for an NCHW float32 batch."""
    weight, bias = tiny_weights(classes)
    out = np.einsum("kc,nchw->nkhw", weight.astype(np.float64), batch.astype(np.float64))
    return (out + bias[None, :, None, None]).astype(np.float32)


def tiny_info(batch=1, size=TINY_SIZE):
    entry = get_model("espnet-q8")
    info = ModelInfo.from_zoo(entry, size=size, batch=batch)
    info.classes = info.classes[:TINY_CLASSES]
    info.palette = info.palette[:TINY_CLASSES]
    info.name = "selftest-tiny"
    return info


def write_tiny_onnx(path, batch=1, size=TINY_SIZE, dynamic_batch=False, opset=defaults.ONNX_OPSET):
    """Write the tiny ONNX file (needs the onnx package); returns (path, ModelInfo)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise MissingDependency("the tiny self-test model needs the onnx package (pip install onnx): "
                                "{}".format(exc))

    info = tiny_info(batch, size)
    width, height = size
    weight, bias = tiny_weights(len(info.classes))
    first = "N" if dynamic_batch else batch
    graph = helper.make_graph(
        [helper.make_node("Conv", [INPUT_NAME, "w", "b"], [OUTPUT_NAME], kernel_shape=[1, 1])],
        "selftest_tiny",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [first, 3, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [first, len(info.classes), height, width])],
        initializer=[numpy_helper.from_array(weight.reshape(len(info.classes), 3, 1, 1), "w"),
                     numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="espnet-edge selftest")
    model.ir_version = min(model.ir_version, 8)
    for key, value in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    write_bytes(path, model.SerializeToString())
    return path, info
