"""Lossless INT8 input for the QDQ graph: the first Conv reads raw pixels - 128, not the normalised image.

The graph input stays what the runtime feeds (the normalised NCHW image, ``x = (p * scale - mean) /
std / divide`` per channel). A per-tensor symmetric int8 scale for ``x`` spans the widest channel, so
each step is ~1.4 grey levels (ESPNet) and the channels are rounded unequally; quantizing only
ESPNet's first Conv cost 2.6% held-out mask agreement at 1024x512. Inside the QDQ graph only:

    u = x * a + b                   a = std * divide / scale, b = mean / scale - 128 (per channel)
                                    = p - 128, an integer in -128..127 for integer pixels
    v = Concat(u, K)                K = ONES (a constant channel, Expand of one value)
    Conv(DQ(Q(v, scale 1)), W'')    W'' = [W / a  |  -sum_c (W_c / a_c) b_c / K]

``Q(v, 1)`` is exact (integers, zero point 0: TensorRT 8.2's symmetric INT8). The constant channel
carries the mean offset through the Conv's own zero padding, so borders are exact too (an offset in the
bias would be wrong wherever the kernel overlaps the padding: there x = 0 means p = mean, not 128).
In float the fold is exact: conv(W, pad(x)) = conv(W / a, pad(u)) + conv(W4, pad(K)). After int8
weight rounding the bias absorbs the rounding of the constant channel's weights (exact away from the
borders).
"""

import numpy as np

ONES = 127.0  # the constant channel's value: int8-exact, and large so its weights stay small
PREFIX = "espnet_edge_pixels"
PIXELS = PREFIX + "/v_dq"  # what a folded Conv reads: DequantizeLinear of concat(pixels - 128, ONES)


def normalisation_affine(spec):
    """-> (a, b) per channel with raw pixel - 128 = x * a + b for the spec's normalised input x."""
    mean = np.asarray(spec.mean, np.float64)
    std = np.asarray(spec.std, np.float64)
    return std * spec.divide / spec.scale, mean / spec.scale - 128.0


def fold_weights(weight, a, b, ones=ONES):
    """Conv weights [O, C, kh, kw] on x -> weights [O, C + 1, kh, kw] on concat(u, ones) (float64)."""
    weight = np.asarray(weight, np.float64)
    scaled = weight / a[None, :, None, None]
    offset = -np.sum(scaled * b[None, :, None, None], axis=1, keepdims=True) / ones
    return np.concatenate([scaled, offset], axis=1)


def quantize_folded(folded, bias, ones=ONES):
    """Symmetric per-output-channel int8 of the folded weights -> (int8 weights, scales, float bias).
    The bias takes back what rounding the constant channel's weights moved (the channel is ``ones``
    at every non-padded position), so the offset stays exact wherever the kernel sees no padding."""
    absmax = np.max(np.abs(folded.reshape(folded.shape[0], -1)), axis=1)
    scales = np.where(absmax > 0, absmax / 127.0, 1.0)
    quantized = np.clip(np.round(folded / scales[:, None, None, None]), -127, 127)
    rounding = (quantized[:, -1] * scales[:, None, None] - folded[:, -1]).reshape(folded.shape[0], -1).sum(axis=1)
    bias = (np.zeros(folded.shape[0]) if bias is None else np.asarray(bias, np.float64)) - ones * rounding
    return quantized.astype(np.int8), scales.astype(np.float32), bias.astype(np.float32)


def fold_input(qdq, fp32, spec, layout="NCHW"):
    """Rewrite the INT8 Convs that read the quantized graph input of ``qdq`` (edited in place) to read
    raw pixels - 128 and a constant channel, quantized with scale 1. ``fp32`` gives the float weights.
    -> names of the Convs folded (none when the input is not a normalised NCHW image or no INT8 Conv
    with group 1 reads it)."""
    from onnx import helper, numpy_helper

    if layout != "NCHW" or spec is None or not spec.resize_first:
        return []  # raw pixels are integers only when the image is resized before normalising
    graph = qdq.graph
    x = graph.input[0].name
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    channels = len(spec.mean)
    if len(dims) != 4 or dims[1] != channels or not all(dims):
        return []
    producer = {out: node for node in graph.node for out in node.output}
    fp32_inits = {init.name: init for init in fp32.graph.initializer}
    fp32_convs = {node.name: node for node in fp32.graph.node if node.op_type == "Conv"}

    def reads_quantized_input(node):
        dq = producer.get(node.input[0])
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        weight_dq = producer.get(node.input[1])
        return (q is not None and q.op_type == "QuantizeLinear" and q.input[0] == x
                and weight_dq is not None and weight_dq.op_type == "DequantizeLinear"
                and node.name in fp32_convs and all(a.name != "group" or a.i == 1 for a in node.attribute))

    convs = [node for node in graph.node if node.op_type == "Conv" and reads_quantized_input(node)]
    if not convs:
        return []
    a, b = normalisation_affine(spec)
    prefix = PREFIX

    def const(name, array):
        graph.initializer.append(numpy_helper.from_array(np.asarray(array), prefix + "/" + name))
        return prefix + "/" + name

    view = (1, channels, 1, 1)
    shape = [dims[0], 1, dims[2], dims[3]]
    nodes = [
        helper.make_node("Mul", [x, const("a", a.astype(np.float32).reshape(view))], [prefix + "/scaled"],
                         name=prefix + "/Mul"),
        helper.make_node("Add", [prefix + "/scaled", const("b", b.astype(np.float32).reshape(view))],
                         [prefix + "/u"], name=prefix + "/Add"),
        helper.make_node("Expand", [const("ones_value", np.full((1, 1, 1, 1), ONES, np.float32)),
                                    const("ones_shape", np.asarray(shape, np.int64))], [prefix + "/ones"],
                         name=prefix + "/Expand"),
        helper.make_node("Concat", [prefix + "/u", prefix + "/ones"], [prefix + "/v"], axis=1,
                         name=prefix + "/Concat"),
        helper.make_node("QuantizeLinear", [prefix + "/v", const("scale", np.float32(1.0)),
                                            const("zero_point", np.int8(0))], [prefix + "/v_q"],
                         name=prefix + "/QuantizeLinear"),
        helper.make_node("DequantizeLinear", [prefix + "/v_q", prefix + "/scale", prefix + "/zero_point"],
                         [prefix + "/v_dq"], name=prefix + "/DequantizeLinear"),
    ]
    folded_names = []
    for index, conv in enumerate(convs):
        original = fp32_convs[conv.name]
        weight = numpy_helper.to_array(fp32_inits[original.input[1]])
        bias = numpy_helper.to_array(fp32_inits[original.input[2]]) if len(original.input) > 2 else None
        quantized, scales, new_bias = quantize_folded(fold_weights(weight, a, b), bias)
        tag = "{}/{}".format(prefix, index)
        nodes.append(helper.make_node(
            "DequantizeLinear", [const("{}/w_q".format(index), quantized), const("{}/w_scale".format(index), scales),
                                 const("{}/w_zero_point".format(index), np.zeros(len(scales), np.int8))],
            [tag + "/w"], axis=0, name=tag + "/w/DequantizeLinear"))
        conv.input[0] = PIXELS
        conv.input[1] = tag + "/w"
        bias_name = const("{}/bias".format(index), new_bias)
        if len(conv.input) > 2:
            conv.input[2] = bias_name
        else:
            conv.input.append(bias_name)
        folded_names.append(conv.name)
    folded = set(folded_names)
    first = min(i for i, node in enumerate(graph.node) if node.op_type == "Conv" and node.name in folded)
    for offset, node in enumerate(nodes):
        graph.node.insert(first + offset, node)
    drop_unused_qdq(graph)
    return folded_names


def drop_unused_qdq(graph):
    """Remove Q/DQ nodes and initializers nothing reads any more."""
    while True:
        used = set(name for node in graph.node for name in node.input) | set(o.name for o in graph.output)
        dead = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                and not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = set(name for node in graph.node for name in node.input)
    for init in [init for init in graph.initializer if init.name not in used]:
        graph.initializer.remove(init)
