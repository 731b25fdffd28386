"""fp32 ONNX -> fp16 weights and activations with float32 inputs and outputs.

For TensorRT >= 10 strongly-typed networks (no precision flags: the graph's types decide) and for
checking fp16 accuracy on a CPU. A Cast to fp16 follows each float input, a Cast to fp32 precedes
each float output; inputs that ONNX requires to be float32 (Resize roi/scales) stay float32.

Frame graphs (``export --fuse-pre --input-size``) keep their own nodes in float32: the in-graph
preprocessing sums integers up to 2**24 and rounds at 1/8 steps near 255, and the overlay blends
0..255 colours, all exact only in float32 (fp16 holds 11 significant bits). Only the network
between them runs in fp16, with one Cast into it and one out of it
(``espnet_edge.runtime.frame_nodes`` says which nodes are the frame graph's).
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

from espnet_edge.runtime.frame_nodes import frame_node_names

# (op, input index) that must stay float32 whatever the data type
_KEEP_FP32 = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}
_FP16_MAX = 65504.0


def _float_tensors(model):
    """Names of every float32 tensor in the graph (inputs, initializers, inferred intermediates)."""
    inferred = shape_inference.infer_shapes(model)
    graph = inferred.graph
    names = set(init.name for init in graph.initializer if init.data_type == TensorProto.FLOAT)
    for info in list(graph.input) + list(graph.value_info) + list(graph.output):
        if info.type.tensor_type.elem_type == TensorProto.FLOAT:
            names.add(info.name)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    names.add(node.output[0])
    return names


def _to_half(array):
    return np.clip(array, -_FP16_MAX, _FP16_MAX).astype(np.float16)


def _halve_constants(graph, floats, consumers, needs_half, half_node):
    """Constants (initializers, Constant nodes) become fp16 where every reader wants fp16; the few read
    both ways (none in the exported graphs so far) stay float32 and are cast. A Cast to float in a node
    that becomes fp16 casts to fp16. -> the names of the constants made fp16."""
    constant_half = set()
    for init in graph.initializer:
        readers = consumers.get(init.name, [])
        if init.data_type == TensorProto.FLOAT and readers and all(needs_half(n, i) for n, i in readers):
            init.CopyFrom(numpy_helper.from_array(_to_half(numpy_helper.to_array(init)), init.name))
            constant_half.add(init.name)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] in floats:
            readers = consumers.get(node.output[0], [])
            if readers and all(needs_half(n, i) for n, i in readers):
                for attr in node.attribute:
                    if attr.name == "value":
                        attr.t.CopyFrom(numpy_helper.from_array(_to_half(numpy_helper.to_array(attr.t)),
                                                                attr.t.name))
                constant_half.add(node.output[0])
        if node.op_type == "Cast" and half_node(node):
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16
    return constant_half


def to_fp16(model):
    """-> a new ModelProto computing in fp16 (the input model is not changed); a frame graph's
    own nodes (``frame_node_names``) stay float32."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    kept = frame_node_names(out)
    floats = _float_tensors(out)
    producer = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, index))

    def half_node(node):
        return node.name not in kept

    def needs_half(node, index):
        return half_node(node) and (node.op_type, index) not in _KEEP_FP32

    constant_half = _halve_constants(graph, floats, consumers, needs_half, half_node)

    def produced_half(name):
        """Is float tensor ``name`` fp16 where it is made?"""
        if name in constant_half:
            return True
        node = producer.get(name)
        return node is not None and node.op_type != "Constant" and half_node(node)

    outputs = set(o.name for o in graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT)
    renamed = {}  # graph outputs made in fp16: the node writes <name>_fp16, a Cast gives <name>
    for name in outputs:
        if produced_half(name):
            renamed[name] = name + "_fp16"
    converted = {}  # (tensor, to half?) -> the name of its cast copy
    casts_in, nodes = [], []

    def cast(name, half, sink):
        key = (name, half)
        if key not in converted:
            source = renamed.get(name, name)
            if half:
                target = name + "_fp16"
                node = helper.make_node("Cast", [source], [target], to=TensorProto.FLOAT16, name="cast_" + target)
            else:
                target = name if name in renamed else name + "_fp32"
                node = helper.make_node("Cast", [source], [target], to=TensorProto.FLOAT,
                                        name="cast_" + name + "_fp32")
            converted[key] = target
            sink.append(node)
        return converted[key]

    graph_inputs = set(i.name for i in graph.input)
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name not in floats or node.op_type == "Constant":
                continue
            want_half = needs_half(node, index)
            if want_half != produced_half(name):
                node.input[index] = cast(name, want_half, casts_in if name in graph_inputs else nodes)
            elif name in renamed:
                node.input[index] = renamed[name]
        for index, name in enumerate(node.output):
            if name in renamed:
                node.output[index] = renamed[name]
        nodes.append(node)
    for name in sorted(renamed):
        cast(name, False, nodes)
    del graph.node[:]
    graph.node.extend(casts_in + nodes)
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
