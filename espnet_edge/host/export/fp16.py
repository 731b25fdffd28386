"""fp32 ONNX -> fp16 weights and activations with float32 inputs and outputs.

For TensorRT >= 10 strongly-typed networks (no precision flags: the graph's types decide) and for
checking fp16 accuracy on a CPU. A Cast to fp16 follows each float input, a Cast to fp32 precedes
each float output; inputs that ONNX requires to be float32 (Resize roi/scales) stay float32.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

# (op, input index) that must stay float32 whatever the data type
_KEEP_FP32 = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}
_FP16_MAX = 65504.0


def _fp32_slots(graph):
    names = set()
    for node in graph.node:
        for index, name in enumerate(node.input):
            if (node.op_type, index) in _KEEP_FP32:
                names.add(name)
    return names


def to_fp16(model):
    """-> a new ModelProto computing in fp16 (the input model is not changed)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    keep = _fp32_slots(graph)
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            array = numpy_helper.to_array(init)
            clipped = np.clip(array, -_FP16_MAX, _FP16_MAX).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(clipped, init.name))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in keep:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(numpy_helper.from_array(
                        numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16
    casts_in, casts_out = [], []
    for graph_input in graph.input:
        if graph_input.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = graph_input.name + "_fp16"
        for node in graph.node:
            for index, name in enumerate(node.input):
                if name == graph_input.name:
                    node.input[index] = half
        casts_in.append(helper.make_node("Cast", [graph_input.name], [half], to=TensorProto.FLOAT16,
                                         name="cast_" + half))
    for graph_output in graph.output:
        if graph_output.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = graph_output.name + "_fp16"
        for node in graph.node:
            for index, name in enumerate(node.output):
                if name == graph_output.name:
                    node.output[index] = half
            for index, name in enumerate(node.input):
                if name == graph_output.name:
                    node.input[index] = half
        casts_out.append(helper.make_node("Cast", [half], [graph_output.name], to=TensorProto.FLOAT,
                                          name="cast_" + graph_output.name + "_fp32"))
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    out = shape_inference.infer_shapes(out, strict_mode=True)
    onnx.checker.check_model(out, full_check=True)
    return out


def float_tensor_types(model):
    """Counts of fp32/fp16 among initializers and inferred intermediate tensors (for tests/reports)."""
    counts = {"fp32": 0, "fp16": 0}
    for init in model.graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            counts["fp32"] += 1
        elif init.data_type == TensorProto.FLOAT16:
            counts["fp16"] += 1
    for info in model.graph.value_info:
        kind = info.type.tensor_type.elem_type
        if kind == TensorProto.FLOAT:
            counts["fp32"] += 1
        elif kind == TensorProto.FLOAT16:
            counts["fp16"] += 1
    return counts
