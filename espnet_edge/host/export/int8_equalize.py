"""Cross-layer equalisation of activations before INT8 (exact in float).

TensorRT takes one scale per activation tensor; ESPNet's and ESPNetv2's tensors have channels whose
ranges differ by 20x and more, so the small channels get few int8 levels. Where a Conv A's output
(directly, or through a PReLU) is read by Convs only, channel i can be divided by s_i > 0 in A
(weights and bias) and multiplied back in every reader's input-channel weights: PReLU is positively
homogeneous per channel (PReLU(x / s) = PReLU(x) / s for s > 0 with its own slope), so the graph
computes the same function. s_i = sqrt(a_i / w_i) (a_i: the channel's largest |activation| on the
calibration frames, w_i: the readers' largest |weight| on it) moves half the imbalance into the
weights, which are quantized per output channel (Nagel et al. 2019, "Data-Free Quantization Through
Weight Equalization and Bias Correction", arXiv:1906.04721; Xiao et al. 2023, SmoothQuant,
arXiv:2211.10438, migration strength 0.5).
"""

import numpy as np

from espnet_edge.host.export.int8_qdq import with_outputs
from espnet_edge.host.export.pipeline import ort_session

LIMIT = 100.0  # s_i clipped to [1 / LIMIT, LIMIT]: a dead channel must not blow up its readers' weights


def candidates(model):
    """-> [(producer Conv, tensor the readers read, [reader Convs])] where equalisation is exact."""
    nodes = list(model.graph.node)
    readers = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = set(o.name for o in model.graph.output)
    inits = set(i.name for i in model.graph.initializer)
    found = []
    for node in nodes:
        if node.op_type != "Conv" or node.input[1] not in inits or (len(node.input) > 2 and node.input[2] not in inits):
            continue
        tensor = node.output[0]
        users = readers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == "PRelu" and users[0].input[1] in inits and tensor not in outputs:
            tensor = users[0].output[0]
            users = readers.get(tensor, [])
        if tensor in outputs or not users:
            continue
        if all(u.op_type == "Conv" and u.input[0] == tensor and u.input[1] in inits and tensor not in u.input[1:]
               for u in users):
            found.append((node, tensor, users))
    return found


def channel_ranges(model, tensors, batches):
    """Largest |value| per channel (axis 1) of each of ``tensors`` over ``batches`` (fp32 graph)."""
    session = ort_session(with_outputs(model, tensors))
    input_name = model.graph.input[0].name
    ranges = {}
    for batch in batches:
        for name, value in zip(tensors, session.run(list(tensors), {input_name: batch})):
            peak = np.max(np.abs(value), axis=tuple(i for i in range(value.ndim) if i != 1))
            ranges[name] = np.maximum(ranges.get(name, 0), peak)
    return ranges


def _input_channel_weights(weight, group, channels):
    """|weight| per input channel of a Conv reading ``channels`` channels in ``group`` groups."""
    per_group = weight.shape[1]
    out_per_group = weight.shape[0] // group
    peaks = np.zeros(channels)
    for c in range(channels):
        g, k = divmod(c, per_group)
        peaks[c] = np.max(np.abs(weight[g * out_per_group:(g + 1) * out_per_group, k]))
    return peaks


def _scale_input_channels(weight, group, scales):
    per_group = weight.shape[1]
    out_per_group = weight.shape[0] // group
    weight = weight.copy()
    for c, s in enumerate(scales):
        g, k = divmod(c, per_group)
        weight[g * out_per_group:(g + 1) * out_per_group, k] *= s
    return weight


def equalize(model, batches):
    """Equalise every candidate pair of ``model`` (edited in place) on ``batches``; -> {tensor: scales}."""
    from onnx import numpy_helper

    found = candidates(model)
    if not found:
        return {}
    inits = {i.name: i for i in model.graph.initializer}
    ranges = channel_ranges(model, [tensor for _, tensor, _ in found], batches)

    def group(node):
        return next((a.i for a in node.attribute if a.name == "group"), 1)

    def array(name):
        return numpy_helper.to_array(inits[name]).astype(np.float64)

    def store(name, value):
        inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))

    applied = {}
    for conv, tensor, users in found:
        weight = array(conv.input[1])
        channels = weight.shape[0]
        peaks = np.max([_input_channel_weights(array(u.input[1]), group(u), channels) for u in users], axis=0)
        activation = ranges[tensor]
        scales = np.where((activation > 0) & (peaks > 0), np.sqrt(activation / np.where(peaks > 0, peaks, 1)), 1.0)
        scales = np.clip(scales / np.exp(np.mean(np.log(scales))), 1.0 / LIMIT, LIMIT)  # geometric mean 1
        store(conv.input[1], weight / scales[:, None, None, None])
        if len(conv.input) > 2:
            store(conv.input[2], array(conv.input[2]) / scales)
        for user in users:
            store(user.input[1], _scale_input_channels(array(user.input[1]), group(user), scales))
        applied[tensor] = scales
    return applied
