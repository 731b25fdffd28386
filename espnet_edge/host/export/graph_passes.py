"""ONNX graph clean-up after torch.onnx.export: fold constants (static shapes included), fold
BatchNorm into the Conv before it, turn Constant nodes into initializers, infer shapes."""

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

# ops whose output is a pure function of constant inputs (safe to evaluate once at export)
_FOLDABLE = {"Add", "Sub", "Mul", "Div", "Cast", "Concat", "Gather", "Slice", "Squeeze", "Unsqueeze",
             "Reshape", "Transpose", "Identity", "Floor", "Ceil", "Sqrt", "Range", "Equal", "Where",
             "ConstantOfShape", "Expand", "Shape", "Neg", "Max", "Min"}


def static_shapes(model):
    """name -> tuple of ints for every tensor whose shape is fully known."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    graph = inferred.graph
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[info.name] = tuple(d.dim_value for d in dims)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _evaluate(node, inputs, opset):
    from onnx.reference import ReferenceEvaluator

    names = ["in{}".format(i) for i in range(len(node.input))]
    const_nodes = [helper.make_node("Constant", [], [n], value=numpy_helper.from_array(v, n))
                   for n, v in zip(names, inputs)]
    copy = helper.make_node(node.op_type, names, list(node.output), domain=node.domain)
    copy.attribute.extend(node.attribute)
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output]
    graph = helper.make_graph(const_nodes + [copy], "fold", [], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(model).run(None, {})


def fold_constants(model):
    """Replace every node computable at export time (Shape of static tensors, arithmetic on
    constants) by initializers. Returns (model, folded node count)."""
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    shapes = static_shapes(model)
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    keep, folded = [], 0
    for node in graph.node:
        value = None
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            value = [numpy_helper.to_array(node.attribute[0].t)]
        elif node.op_type == "Shape" and node.input[0] in shapes:
            start = next((a.i for a in node.attribute if a.name == "start"), 0)
            end = next((a.i for a in node.attribute if a.name == "end"), None)
            value = [np.array(shapes[node.input[0]], dtype=np.int64)[start:end]]
        elif node.op_type in _FOLDABLE and node.domain in ("", "ai.onnx") and node.input and \
                all(name in consts for name in node.input):
            value = _evaluate(node, [consts[n] for n in node.input], opset)
        if value is None:
            keep.append(node)
            continue
        for name, array in zip(node.output, value):
            consts[name] = np.asarray(array)
            graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
        if node.op_type != "Constant":
            folded += 1
    del graph.node[:]
    graph.node.extend(keep)
    remove_unused_initializers(model)
    return model, folded


def remove_unused_initializers(model):
    graph = model.graph
    used = set(name for node in graph.node for name in node.input)
    used.update(o.name for o in graph.output)
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


def _attr(node, name, default):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def fold_batchnorm(model):
    """Fold every BatchNormalization whose input is the only use of a Conv's output into that
    Conv's weights and bias. Returns (model, folded count, BatchNorms left)."""
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    outputs = set(o.name for o in graph.output)
    producers = {out: node for node in graph.node for out in node.output}
    removed, folded = set(), 0
    for bn in graph.node:
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1:
            continue
        conv = producers.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or consumers.get(bn.input[0]) != 1 or \
                bn.input[0] in outputs or conv.input[1] not in inits or \
                not all(n in inits for n in bn.input[1:5]):
            continue
        scale, bias, mean, var = (numpy_helper.to_array(inits[n]).astype(np.float64) for n in bn.input[1:5])
        factor = scale / np.sqrt(var + _attr(bn, "epsilon", 1e-5))
        weight = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        conv_bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) \
            if len(conv.input) > 2 and conv.input[2] else np.zeros(weight.shape[0])
        new_w = (weight * factor.reshape(-1, *([1] * (weight.ndim - 1)))).astype(np.float32)
        new_b = ((conv_bias - mean) * factor + bias).astype(np.float32)
        w_name, b_name = conv.output[0] + "_bnfold_w", conv.output[0] + "_bnfold_b"
        graph.initializer.extend([numpy_helper.from_array(new_w, w_name), numpy_helper.from_array(new_b, b_name)])
        data = conv.input[0]
        del conv.input[:]
        conv.input.extend([data, w_name, b_name])
        conv.output[0] = bn.output[0]
        removed.add(id(bn))
        folded += 1
    kept = [n for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(kept)
    remove_unused_initializers(model)
    left = sum(1 for n in graph.node if n.op_type == "BatchNormalization")
    return model, folded, left


def constants_to_initializers(model):
    graph = model.graph
    keep = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    return model


def clean(model):
    """All passes, then shape inference and the checker. Returns (model, stats dict)."""
    model = constants_to_initializers(model)
    model, folded = fold_constants(model)
    model, bn_folded, bn_left = fold_batchnorm(model)
    del model.graph.value_info[:]
    model = shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model, {"constants_folded": folded, "batchnorm_folded_here": bn_folded,
                   "batchnorm_left": bn_left}
