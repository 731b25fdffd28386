"""What the stand-in TensorRT *does* behind the strict signatures of trt_strict.py: a tiny GPU world.

The parser reads the real ONNX file (input/output names and shapes); the "engine" is a JSON
description of what was built; execution reads the input from the bound device address in the
host-memory CUDA stand-in (host_cuda.py), computes the tiny model's numpy reference and writes the
output to the bound output address. Calibration calls the calibrator's callbacks the way TensorRT's
builder does. Also stands in for the GPU-side facts: fast FP16/INT8, DLA cores.
"""

import json

import numpy as np

from espnet_edge.runtime.tensorrt.tiny_model import reference


class World(object):
    def __init__(self, cuda, version, fast_fp16=True, fast_int8=True, dla_cores=0, context_fails=False):
        self.cuda = cuda
        self.version = version
        self.major = int(version.split(".")[0])
        self.fast_fp16 = fast_fp16
        self.fast_int8 = fast_int8
        self.dla_cores = dla_cores
        self.context_fails = context_fails
        self.events = []  # what happened, for the tests to assert on

    def make(self, kind, module, **args):
        return {"Builder": Builder, "Runtime": Runtime, "OnnxParser": Parser}[kind](self, module, **args)


class Builder(object):
    def __init__(self, world, module, logger=None):
        self.world, self.module = world, module

    @property
    def platform_has_fast_fp16(self):
        return self.world.fast_fp16

    @property
    def platform_has_fast_int8(self):
        return self.world.fast_int8

    @property
    def num_DLA_cores(self):
        return self.world.dla_cores

    def create_network(self, flags=0):
        names = [name for name, member in self.module._real.NetworkDefinitionCreationFlag.__members__.items()
                 if int(flags) & (1 << int(member))]
        self.world.events.append(("network_flags", names))
        return self.module._wrap("INetworkDefinition", Network(names))

    def create_builder_config(self):
        return self.module._wrap("IBuilderConfig", Config(self.module))

    def create_optimization_profile(self):
        return self.module._wrap("IOptimizationProfile", Profile())

    def build_serialized_network(self, network, config, kernel_text=None):
        net = object.__getattribute__(network, "_behaviour")
        cfg = object.__getattribute__(config, "_behaviour")
        calibrator = getattr(cfg, "int8_calibrator", None)
        if calibrator is not None:
            _calibrate(self.world, calibrator, net)
        if self.world.major < 10 and "EXPLICIT_BATCH" not in net.flags:
            return None  # the ONNX parser needs explicit batch before 10
        engine = {"inputs": net.inputs, "outputs": net.outputs, "flags": sorted(cfg.flags),
                  "profiles": [object.__getattribute__(p, "_behaviour").shapes for p in cfg.profiles],
                  "device": str(getattr(cfg, "default_device_type", "GPU")), "dla_core": getattr(cfg, "DLA_core", None),
                  "workspace": cfg.workspace, "verbosity": str(getattr(cfg, "profiling_verbosity", ""))}
        self.world.events.append(("built", engine))
        return self.module._wrap("IHostMemory", HostMemory(json.dumps(engine).encode()))


def _calibrate(world, calibrator, net):
    """As TensorRT's builder: batch size, cache first, then batches until None, then write the cache."""
    batch = calibrator.get_batch_size()
    cache = calibrator.read_calibration_cache()
    fed = 0
    if not cache:
        names = [name for name, _ in net.inputs]
        while True:
            pointers = calibrator.get_batch(names)
            if pointers is None:
                break
            if len(pointers) != len(names) or not all(isinstance(p, int) for p in pointers):
                raise TypeError("get_batch must return one int device address per input")
            shape = (batch,) + tuple(net.inputs[0][1][1:])
            world.cuda.read(pointers[0], np.float32, shape)  # the data must be there
            fed += 1
        major, minor, patch = (int(p) for p in world.version.split(".")[:3])
        number = major * (10000 if major >= 10 else 1000) + minor * 100 + patch  # NV_TENSORRT_VERSION
        calibrator.write_calibration_cache(memoryview(b"TRT-%d-EntropyCalibration2\ninput: 3c010a14\n" % number))
    world.events.append(("calibrated_batches", fed))


class Network(object):
    def __init__(self, flags):
        self.flags = flags
        self.inputs, self.outputs = [], []

    @property
    def num_inputs(self):
        return len(self.inputs)

    @property
    def num_outputs(self):
        return len(self.outputs)

    def get_input(self, index):
        name, shape = self.inputs[index]
        return _NetworkTensorHolder.module._wrap("ITensor", Tensor(name, shape))

    def get_output(self, index):
        name, shape = self.outputs[index]
        return _NetworkTensorHolder.module._wrap("ITensor", Tensor(name, shape))


class _NetworkTensorHolder(object):
    module = None


class Tensor(object):
    def __init__(self, name, shape):
        self.name = name
        self.shape = _NetworkTensorHolder.module._real.Dims(list(shape))


class Parser(object):
    def __init__(self, world, module, network=None, logger=None):
        self.world, self.module = world, module
        self.network = object.__getattribute__(network, "_behaviour")
        self.errors = []
        _NetworkTensorHolder.module = module

    def parse_from_file(self, model):
        import onnx

        proto = onnx.load(model)

        def dims(value_info):
            return tuple(d.dim_value if d.dim_value else -1 for d in value_info.type.tensor_type.shape.dim)

        self.network.inputs = [(v.name, dims(v)) for v in proto.graph.input]
        self.network.outputs = [(v.name, dims(v)) for v in proto.graph.output]
        self.world.events.append(("parsed", model))
        return True

    @property
    def num_errors(self):
        return len(self.errors)

    def get_error(self, index):
        return self.errors[index]


class Config(object):
    def __init__(self, module):
        self.module = module
        self.flags = set()
        self.profiles = []
        self.workspace = None
        self.timing_cache = None
        self.int8_calibrator = None

    def set_memory_pool_limit(self, pool, pool_size):
        self.workspace = pool_size

    @property
    def max_workspace_size(self):
        return self.workspace or 0

    @max_workspace_size.setter
    def max_workspace_size(self, value):
        self.workspace = value

    def set_flag(self, flag):
        self.flags.add(flag.name)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile):
        return True

    def create_timing_cache(self, serialized_timing_cache):
        return self.module._wrap("ITimingCache", TimingCache(bytes(serialized_timing_cache)))

    def set_timing_cache(self, cache, ignore_mismatch):
        self.timing_cache = cache
        return True

    def get_timing_cache(self):
        return self.timing_cache


class Profile(object):
    def __init__(self):
        self.shapes = {}

    def set_shape(self, input, min, opt, max):  # noqa: A002 - TensorRT's own parameter names
        self.shapes[input] = [list(min), list(opt), list(max)]


class TimingCache(object):
    def __init__(self, data):
        self.data = data

    def serialize(self):
        return _NetworkTensorHolder.module._wrap("IHostMemory", HostMemory(self.data + b"+timings"))


class HostMemory(object):
    def __init__(self, data):
        self.data = data

    def __bytes__(self):
        return self.data

    def __len__(self):
        return len(self.data)

    @property
    def nbytes(self):
        return len(self.data)


class Runtime(object):
    def __init__(self, world, module, logger=None):
        self.world, self.module = world, module

    def deserialize_cuda_engine(self, serialized_engine=None, **_others):
        try:
            description = json.loads(bytes(serialized_engine).decode())
        except ValueError:
            return None
        return self.module._wrap("ICudaEngine", Engine(self.world, self.module, description))


class Engine(object):
    def __init__(self, world, module, description):
        self.world, self.module, self.d = world, module, description
        self.tensors = [(n, True, tuple(s)) for n, s in description["inputs"]] + \
                       [(n, False, tuple(s)) for n, s in description["outputs"]]

    def _index(self, name):
        return [t[0] for t in self.tensors].index(name)

    def _dims(self, shape):
        return self.module._real.Dims(list(shape))

    @property
    def num_io_tensors(self):
        return len(self.tensors)

    @property
    def num_bindings(self):
        return len(self.tensors)

    def get_tensor_name(self, index):
        return self.tensors[index][0]

    def get_binding_name(self, index):
        return self.tensors[index][0]

    def get_tensor_mode(self, name):
        mode = self.module._real.TensorIOMode
        return mode.INPUT if self.tensors[self._index(name)][1] else mode.OUTPUT

    def binding_is_input(self, index=None, name=None):
        return self.tensors[index if index is not None else self._index(name)][1]

    def get_tensor_shape(self, name):
        return self._dims(self.tensors[self._index(name)][2])

    def get_binding_shape(self, index=None, name=None):
        return self._dims(self.tensors[index if index is not None else self._index(name)][2])

    def get_tensor_dtype(self, name):
        return self.module._real.DataType.FLOAT

    def get_binding_dtype(self, index=None, name=None):
        return self.module._real.DataType.FLOAT

    def get_tensor_profile_shape(self, name, profile_index):
        return [self._dims(s) for s in self.d["profiles"][profile_index][name]]

    def get_profile_shape(self, profile_index, binding):
        name = binding if isinstance(binding, str) else self.tensors[binding][0]
        return [self._dims(s) for s in self.d["profiles"][profile_index][name]]

    def create_execution_context(self, strategy=None, runtime_config=None):
        if self.world.context_fails:
            return None
        return self.module._wrap("IExecutionContext", Context(self))

    def create_engine_inspector(self):
        return self.module._wrap("EngineInspector", Inspector(self))


class Inspector(object):
    def __init__(self, engine):
        self.engine = engine

    def get_engine_information(self, format):  # noqa: A002 - TensorRT's own parameter name
        d = self.engine.d
        on_dla = "DLA" in d["device"]
        precision = "Int8" if "INT8" in d["flags"] else ("FP16" if "FP16" in d["flags"] else "FP32")
        layers = [{"Name": ("{ForeignNode[Conv_0]}" if on_dla else "w + Conv_0"),
                   "LayerType": "DlaLayer" if on_dla else "CaskConvolution",
                   "Inputs": [], "Outputs": [{"Name": "logits", "Format/Datatype": "Row major linear " + precision}],
                   "TacticValue": "0x1"},
                  {"Name": "output reformat", "LayerType": "Reformat", "Inputs": [],
                   "Outputs": [{"Name": "logits", "Format/Datatype": "Row major linear FP32"}], "TacticValue": "0x0"}]
        return json.dumps({"Layers": layers, "Bindings": [t[0] for t in self.engine.tensors]})


class Context(object):
    def __init__(self, engine):
        self.engine = engine
        self.world = engine.world
        self.addresses = {}
        self.shapes = {n: s for n, _, s in engine.tensors}

    def _set_shape(self, name, shape):
        shape = tuple(int(d) for d in shape)
        low, _, high = self.engine.d["profiles"][0][name] if self.engine.d["profiles"] else (shape, shape, shape)
        if any(s < lo or s > hi for s, lo, hi in zip(shape, low, high)):
            return False
        self.shapes[name] = shape
        out_name, _, out_shape = [t for t in self.engine.tensors if not t[1]][0]
        self.shapes[out_name] = (shape[0],) + tuple(out_shape[1:])
        return True

    def set_input_shape(self, name, shape):
        return self._set_shape(name, shape)

    def set_binding_shape(self, binding, shape):
        return self._set_shape(self.engine.tensors[binding][0], shape)

    def get_tensor_shape(self, name):
        return self.engine._dims(self.shapes[name])

    def get_binding_shape(self, binding):
        return self.engine._dims(self.shapes[self.engine.tensors[binding][0]])

    def set_tensor_address(self, name, memory):
        self.addresses[name] = int(memory)
        return True

    def _run(self, addresses):
        (in_name, _, _), (out_name, _, _) = self.engine.tensors[0], self.engine.tensors[1]
        batch = self.world.cuda.read(addresses[in_name], np.float32, self.shapes[in_name])
        self.world.cuda.write(addresses[out_name], reference(batch, self.shapes[out_name][1]))
        self.world.events.append(("executed", self.shapes[in_name]))
        return True

    def execute_async_v3(self, stream_handle):
        return self._run(self.addresses)

    def execute_async_v2(self, bindings, stream_handle, input_consumed=None):
        return self._run({t[0]: int(b) for t, b in zip(self.engine.tensors, bindings)})
