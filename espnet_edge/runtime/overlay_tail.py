"""The uint8 frame graph's overlay tail, lowered for ONNX Runtime's CPU provider.

A graph exported with ``--fuse-overlay --frame-dtype uint8`` ends (in the form TensorRT 10 parses:
no uint8 arithmetic, no uint8 Concat) with four full-frame passes over float32:

    Mul(frame, 0.5) -> Add(colour rows) -> Concat(overlay, class rows) -> Cast(uint8)

where the colour rows hold 0.5 * colour + 0.5 (a Gather of the palette table: rows broadcast over
frame rows and reshaped after the Add at integer ratios, full-size colours at the others) and the
truncating Cast floors. For alpha 0.5 the
value is floor((f + c + 1) / 2) for integers f, c in 0..255; ONNX Runtime's QuantizeLinear with
scale 2 rounds (f + c + 0.5) / 2 to nearest even, which is the same integer (f + c even: k + 0.25
-> k; odd: k + 0.75 -> k + 1), and every value on the way is exact in float32. So

    Add(frame, colour rows') -> QuantizeLinear(scale 2) -> Concat(uint8 overlay, Cast(class rows))

with colour rows' = 2 x colour rows - 0.5 = colour + 0.5 is bit-identical and takes the Mul away,
turns the float->uint8 Cast into ONNX Runtime's vectorised QuantizeLinear and concatenates uint8
(a quarter of the bytes). Applied in memory by the runner, never written to a file. Other alphas
and the float32 graphs are left as they are.
"""

import logging

from espnet_edge.runtime.onnx_graph import set_nodes

log = logging.getLogger(__name__)

HALF = 0.5


def _producers(graph):
    return dict((out, node) for node in graph.node for out in node.output)


def _consumers(graph):
    uses = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    for out in graph.output:
        uses[out.name] = uses.get(out.name, 0) + 1
    return uses


def _scalar(inits, name):
    from onnx import numpy_helper

    if name not in inits:
        return None
    value = numpy_helper.to_array(inits[name])
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def _attribute(node, name, default=None):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _match(graph):
    """-> the nodes of the tail (a dict) when the graph ends as described above, else None."""
    from onnx import TensorProto

    if len(graph.output) != 1:
        return None
    inits = dict((init.name, init) for init in graph.initializer)
    made_by, uses = _producers(graph), _consumers(graph)

    def single(name, op_type):
        node = made_by.get(name)
        ok = node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx") and uses.get(name) == 1
        return node if ok else None

    cast = single(graph.output[0].name, "Cast")
    if cast is None or _attribute(cast, "to") != TensorProto.UINT8:
        return None
    concat = single(cast.input[0], "Concat")
    if concat is None or len(concat.input) != 2:
        return None
    # integer ratios reshape the blend of broadcast colour rows; other ratios blend full-size colours
    shape = single(concat.input[0], "Reshape")
    add = single(shape.input[0], "Add") if shape is not None else single(concat.input[0], "Add")
    if add is None:
        return None
    for mul_input, rows_input in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
        mul = single(mul_input, "Mul")
        reshaped = single(rows_input, "Reshape")
        rows = reshaped if reshaped is not None else single(rows_input, "Gather")
        gather = single(reshaped.input[0], "Gather") if reshaped is not None else rows
        if mul is None or gather is None or gather.input[0] not in inits or uses.get(gather.input[0]) != 1:
            continue
        for frame_input, half_input in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            if _scalar(inits, half_input) == HALF and frame_input not in inits:
                return {"cast": cast, "concat": concat, "shape": shape, "add": add, "mul": mul,
                        "frame": frame_input, "rows": rows, "colours": inits[gather.input[0]]}
    return None


def lower_overlay_tail(model):
    """Rewrite the tail in place when it matches; -> 1 if rewritten, else 0."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    tail = _match(graph)
    if tail is None:
        return 0
    colours = numpy_helper.to_array(tail["colours"]).astype(np.float32)
    lowered = colours * np.float32(2.0) - np.float32(HALF)  # exact: multiples of 0.5 below 2**8
    tail["colours"].CopyFrom(numpy_helper.from_array(lowered.astype(np.float32), tail["colours"].name))
    tag = "ort_overlay_tail_"
    graph.initializer.extend([numpy_helper.from_array(np.array(2.0, np.float32), tag + "scale"),
                              numpy_helper.from_array(np.array(0, np.uint8), tag + "zero")])
    shape, concat, cast = tail["shape"], tail["concat"], tail["cast"]
    replaced = set(id(tail[key]) for key in ("mul", "add", "shape", "concat", "cast") if tail[key] is not None)
    nodes = []
    for node in graph.node:
        if id(node) not in replaced:
            nodes.append(node)
    overlay = tag + "overlay"
    nodes.extend([
        helper.make_node("Add", [tail["frame"], tail["rows"].output[0]], [tag + "sum"], name=tag + "add"),
        helper.make_node("QuantizeLinear", [tag + "sum", tag + "scale", tag + "zero"], [overlay], name=tag + "round"),
    ])
    if shape is not None:
        nodes.append(helper.make_node("Reshape", [overlay, shape.input[1]], [tag + "overlay_nhwc"], name=tag + "shape"))
        overlay = tag + "overlay_nhwc"
    nodes.extend([
        helper.make_node("Cast", [concat.input[1]], [tag + "class_rows"], name=tag + "class_rows",
                         to=TensorProto.UINT8),
        helper.make_node("Concat", [overlay, tag + "class_rows"], list(cast.output),
                         name=tag + "concat", axis=_attribute(concat, "axis")),
    ])
    set_nodes(graph, nodes)
    log.debug("overlay tail lowered for ONNX Runtime (QuantizeLinear, uint8 Concat)")
    return 1
