"""Keep a frame graph's own layers (in-graph preprocessing, overlay) in float32 inside TensorRT.

The frame graph's preprocessing is exact only in float32 (integer sums up to 2**24 split hi/lo,
Floors at 1/8 steps near 255; host/export/frame_graph.py) and so is the overlay's colour arithmetic.
With BuilderFlag.FP16/INT8 TensorRT may run any layer in FP16/INT8, and BuilderFlag.TF32 (on by
default) lets float32 convolutions and matrix multiplies round their inputs to 10-bit mantissas.
``frame_plan`` decides, from the parsed network's layer names and types alone, which layers get
``layer.precision = float32`` and ``set_output_type(i, float32)`` and which builder flags change;
``apply_frame_plan`` makes the calls.

TensorRT facts (NVIDIA/TensorRT include/NvInfer.h and the real Python bindings 8.6.1, 10.13.0.35,
11.4.0.106):
- ILayer::setPrecision / setOutputType are preferences TensorRT may ignore unless exactly one of
  BuilderFlag kOBEY_PRECISION_CONSTRAINTS (build fails when impossible) or
  kPREFER_PRECISION_CONSTRAINTS is set (release/8.2); before 8.2 BuilderFlag kSTRICT_TYPES forces
  them (release/7.1, 8.0), deprecated in 8.2 and gone from the 10.13 bindings; OBEY is deprecated
  in 10.12 ("superseded by strong typing", release/10.13).
- setOutputType cannot change the TopK layer's second (index) output, and shape layers' outputs
  are INT32 (release/8.2): only float outputs are pinned.
- kTF32: "Allow (but not require) computations on tensors of type DataType::kFLOAT to use TF32 ...
  rounding the inputs to 10-bit mantissas ... Enabled by default" (release/7.1 .. 10.13; still in
  the 11.4 bindings). It is a builder-wide flag: no per-layer switch exists, so a frame graph whose
  own layers convolve has TF32 cleared for the whole engine.
- TensorRT 11 networks are strongly typed (ILayer has no precision/set_output_type in the 11.4
  bindings): the exported -fp16.onnx keeps the frame nodes float32 (host/export/fp16.py).
Not yet run on a GPU: no TensorRT hardware was available when this was written.
"""

import collections

from espnet_edge.runtime.frame_nodes import is_frame_node

# a layer of the parsed network: name, LayerType name, inputs and outputs as [(tensor name, is float)]
LayerRecord = collections.namedtuple("LayerRecord", "name kind inputs outputs")
NETWORK_PREFIX = "/net/"  # FrameGraph.net: the network's own nodes are never the frame graph's
_INNER_PRODUCTS = ("CONVOLUTION", "DECONVOLUTION", "MATRIX_MULTIPLY", "FULLY_CONNECTED")
REDUCED = ("FP16", "INT8")


def frame_layers(layers):
    """Indices of the frame graph's own layers: those named after its nodes or buffers, and the
    layers the parser adds without a node's name (constants, helpers) whose outputs feed only
    frame-graph layers. Layers come in network (topological) order."""
    readers = collections.defaultdict(list)
    for index, layer in enumerate(layers):
        for name, _ in layer.inputs:
            readers[name].append(index)
    frame = set()
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        if is_frame_node(layer.name):
            frame.add(index)
        elif not layer.name.startswith(NETWORK_PREFIX) and layer.outputs:
            consumers = [r for name, _ in layer.outputs for r in readers.get(name, ())]
            if consumers and all(r in frame for r in consumers):
                frame.add(index)
    return frame


def frame_plan(version, builder_flags, network_flags, layers, frame_graph=True):
    """What to do so that TensorRT keeps the frame graph's layers in float32. Pure: tested without
    TensorRT. ``version``: (major, minor, ...); ``builder_flags``: BuilderFlag names about to be set;
    ``network_flags``: creation flag names; ``layers``: [LayerRecord]; ``frame_graph``: the model
    takes the raw frame (ModelInfo.frame_size; a plain graph's top-level /ArgMax is its own).
    -> {'frame_layers': count, 'pin': [(index, set precision?, [float output indices])],
        'set_flags': [...], 'clear_flags': [...], 'notes': [...]}"""
    version = tuple(int(v) for v in version[:2])
    frame = frame_layers(layers) if frame_graph else set()
    plan = {"frame_layers": len(frame), "pin": [], "set_flags": [], "clear_flags": [], "notes": []}
    if not frame:
        return plan
    strongly_typed = version[0] >= 11 or "STRONGLY_TYPED" in network_flags
    if any(flag in builder_flags for flag in REDUCED) and not strongly_typed:
        for index in sorted(frame):
            layer = layers[index]
            outputs = [i for i, (_, is_float) in enumerate(layer.outputs) if is_float]
            if not outputs:
                continue
            # a layer reading integers (Gather indices, a Cast from uint8) keeps its own precision;
            # its float output is pinned
            plan["pin"].append((index, all(is_float for _, is_float in layer.inputs), outputs))
        if plan["pin"]:
            flag = "OBEY_PRECISION_CONSTRAINTS" if version >= (8, 2) else "STRICT_TYPES"
            plan["set_flags"].append(flag)
            plan["notes"].append("kept {} frame-graph layer(s) (in-graph preprocessing/overlay) in float32 "
                                 "(BuilderFlag.{})".format(len(plan["pin"]), flag))
    elif strongly_typed:
        plan["notes"].append("strongly typed network: the frame-graph layers run in the types of the ONNX "
                             "file (float32 in espnet-edge's -fp16.onnx)")
    if any(layers[i].kind in _INNER_PRODUCTS for i in frame):
        plan["clear_flags"].append("TF32")
        plan["notes"].append("TF32 off for the whole engine: the frame graph's own convolutions are exact "
                             "only in float32 and TensorRT has no per-layer TF32 switch")
    return plan


def _is_float(trt, tensor):
    return tensor.dtype == trt.float32 or tensor.dtype == trt.float16


def layer_records(trt, network):
    """[LayerRecord] of a parsed INetworkDefinition."""
    records = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        inputs = []
        for slot in range(layer.num_inputs):
            tensor = layer.get_input(slot)
            if tensor is not None:  # optional inputs left out
                inputs.append((tensor.name, _is_float(trt, tensor)))
        outputs = [(layer.get_output(slot).name, _is_float(trt, layer.get_output(slot)))
                   for slot in range(layer.num_outputs)]
        records.append(LayerRecord(layer.name, layer.type.name, inputs, outputs))
    return records


def apply_frame_plan(trt, network, config, plan, dla=False):
    """Make the calls ``plan`` (from ``frame_plan``) asks for. ``dla``: pinned layers run on the
    GPU (DLA runs FP16/INT8 only)."""
    for index, precision, outputs in plan["pin"]:
        layer = network.get_layer(index)
        if precision:
            layer.precision = trt.float32
        for slot in outputs:
            layer.set_output_type(slot, trt.float32)
        if dla:
            config.set_device_type(layer, trt.DeviceType.GPU)
    for flag in plan["set_flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    for flag in plan["clear_flags"]:
        config.clear_flag(getattr(trt.BuilderFlag, flag))
