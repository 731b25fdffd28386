"""Child process of test_tensorrt_frame_precision.py: the frame graph's float32 pinning
(runtime/tensorrt/frame_precision.py) driven against strict stand-ins generated from NVIDIA's real
TensorRT bindings (trt_strict.py), on the layers TensorRT's ONNX parser would make from a real
exported frame graph (``parsed_layers``). Prints one JSON list on its last line.

    LD_LIBRARY_PATH=<stand-in libs> python trt_frame_drive.py <bindings dir> <onnx> <version> [...]

``parsed_layers`` is also what the pure tests use: it names layers as onnx-tensorrt does
(ImporterContext::registerLayer: the node's name, made unique with _<n>; constants from
initializers named after them, convertToTensor; no layer for a Constant node; helper layers the
importer adds unnamed, "(Unnamed Layer* <i>) [<type>]").
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

# ONNX op -> TensorRT LayerType name of the layer the parser adds for it (most common case)
_OP_LAYERS = {"Conv": "CONVOLUTION", "ConvTranspose": "DECONVOLUTION", "MatMul": "MATRIX_MULTIPLY",
              "Add": "ELEMENTWISE", "Sub": "ELEMENTWISE", "Mul": "ELEMENTWISE", "Div": "ELEMENTWISE",
              "Floor": "UNARY", "Gather": "GATHER", "ArgMax": "TOPK", "Cast": "IDENTITY",
              "Reshape": "SHUFFLE", "Unsqueeze": "SHUFFLE", "Squeeze": "SHUFFLE", "Transpose": "SHUFFLE",
              "Concat": "CONCATENATION", "Slice": "SLICE", "Pad": "SLICE", "Resize": "RESIZE",
              "Relu": "ACTIVATION", "PRelu": "PARAMETRIC_RELU", "BatchNormalization": "SCALE",
              "AveragePool": "POOLING", "MaxPool": "POOLING", "GlobalAveragePool": "REDUCE",
              "Sigmoid": "ACTIVATION", "Clip": "ACTIVATION", "Split": "SLICE"}


def parsed_layers(model):
    """[LayerRecord] for ``model`` (an exported ONNX ModelProto) as TensorRT's ONNX parser names them."""
    import onnx
    from onnx import TensorProto

    from espnet_edge.runtime.tensorrt.frame_precision import LayerRecord

    inferred = onnx.shape_inference.infer_shapes(model)
    floats = set()
    for info in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        if info.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.FLOAT16):
            floats.add(info.name)
    weights = dict((i.name, i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)) for i in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            weights[node.output[0]] = node.attribute[0].t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)
    names, layers, constants = set(), [], set()
    counter = [0]

    def unique(base):
        name = base
        while name in names:
            name = "{}_{}".format(base, counter[0])
            counter[0] += 1
        names.add(name)
        return name

    def tensor(name):
        return name, name in floats or weights.get(name, False)

    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        kind = _OP_LAYERS.get(node.op_type, "ELEMENTWISE")
        inputs = []
        for name in node.input:
            if not name:
                continue
            if name in weights and kind not in ("CONVOLUTION", "DECONVOLUTION"):  # conv weights are its own
                if name not in constants:
                    constants.add(name)
                    layers.append(LayerRecord(unique(name), "CONSTANT", [], [tensor(name)]))
            if name not in weights or kind not in ("CONVOLUTION", "DECONVOLUTION"):
                inputs.append(tensor(name))
        if node.op_type == "ArgMax":  # TopK (values, int32 indices), then an unnamed Shuffle squeezes
            topk = node.output[0] + "_topk"
            layers.append(LayerRecord(unique(node.name), kind, inputs, [(topk + "_values", True), (topk, False)]))
            layers.append(LayerRecord("(Unnamed Layer* {}) [Shuffle]".format(len(layers)), "SHUFFLE",
                                      [(topk, False)], [tensor(node.output[0])]))
            continue
        layers.append(LayerRecord(unique(node.name), kind, inputs, [tensor(o) for o in node.output]))
    return layers


class Tensor(object):
    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype


class Layer(object):
    def __init__(self, module, record):
        self.module, self.record = module, record
        self.name = record.name
        self.type = getattr(module._real.LayerType, record.kind)
        self.num_inputs, self.num_outputs = len(record.inputs), len(record.outputs)
        self.output_types = {}

    def _tensor(self, name, is_float):
        return self.module._wrap("ITensor", Tensor(name, self.module._real.float32 if is_float else
                                                   self.module._real.int32))

    def get_input(self, index):
        return self._tensor(*self.record.inputs[index])

    def get_output(self, index):
        return self._tensor(*self.record.outputs[index])

    def set_output_type(self, index, dtype):
        self.output_types[index] = dtype.name


class Network(object):
    def __init__(self, module, records):
        self.layers = [module._wrap("ILayer", Layer(module, r)) for r in records]
        self.num_layers = len(self.layers)

    def get_layer(self, index):
        return self.layers[index]


class Config(object):
    def __init__(self):
        self.flags, self.cleared, self.gpu_layers = [], [], []

    def set_flag(self, flag):
        self.flags.append(flag.name)

    def clear_flag(self, flag):
        self.cleared.append(flag.name)

    def set_device_type(self, layer, device_type):
        self.gpu_layers.append(object.__getattribute__(layer, "_behaviour").name)


def run(real, version, records, reduced, dla):
    from trt_strict import strict_module

    from espnet_edge.runtime.tensorrt import compat, frame_precision

    module = strict_module(real, version, None)
    behaviour = Network(module, records)
    network = module._wrap("INetworkDefinition", behaviour)
    config_behaviour = Config()
    config = module._wrap("IBuilderConfig", config_behaviour)
    decision = compat.precision_plan(version, fp16=reduced, fp16_model=False)
    result = {"version": version, "reduced": reduced, "dla": dla, "builder_flags": decision.flags}
    try:
        found = frame_precision.layer_records(module, network)
        plan = frame_precision.frame_plan(compat.parse_version(version), decision.flags,
                                          decision.network_flags, found)
        frame_precision.apply_frame_plan(module, network, config, plan, dla=dla)
        result["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        result["status"] = "{}: {}".format(type(exc).__name__, exc)
        return result
    layers = [object.__getattribute__(l, "_behaviour") for l in behaviour.layers]
    result.update(
        records_match=[tuple(r) for r in found] == [tuple(r) for r in records],
        precision=[l.name for l in layers if getattr(l, "precision", None) is not None
                   and l.precision.name == "FLOAT"],
        output_types=dict((l.name, l.output_types) for l in layers if l.output_types),
        flags=config_behaviour.flags, cleared=config_behaviour.cleared, gpu_layers=config_behaviour.gpu_layers,
        deprecated=sorted(set(module._deprecated)), notes=plan["notes"])
    return result


def main(argv):
    bindings, onnx_path, versions = argv[0], argv[1], argv[2:]
    sys.path.insert(0, bindings)
    import onnx
    import tensorrt_bindings as real

    records = parsed_layers(onnx.load(onnx_path))
    results = [run(real, version, records, reduced, dla) for version in versions
               for reduced, dla in ((True, False), (False, False), (True, True))]
    sys.stdout.write("\n" + json.dumps({"bindings": real.__version__, "results": results}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
