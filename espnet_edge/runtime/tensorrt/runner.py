"""TensorRTRunner: run an espnet-edge engine with page-locked buffers, one stream and async copies.

Two I/O paths, chosen by ``compat.api_plan``: the binding API (get_binding_*, execute_async_v2 with a
bindings list) for TensorRT 7.1-8.4, and named tensors (num_io_tensors, get_tensor_*,
set_tensor_address, execute_async_v3) from 8.5 on. Buffers are allocated once at the profile's
largest shapes and reused for every frame. Four CUDA events on the runner's stream split each
inference into h2d / compute / d2h (``runner.timings``, like trtexec's H2D / GPU compute / D2H).
``cuda_graph=True`` replays the enqueue as a CUDA graph where the CUDA binding offers capture
(cuda-python; not pycuda) and shapes are static.
"""

import logging
import os

import numpy as np

from espnet_edge.errors import UserError
from espnet_edge.runtime.base import Runner
from espnet_edge.runtime.tensorrt import buffers, compat, sidecar
from espnet_edge.runtime.tensorrt.shapes import is_dynamic

log = logging.getLogger(__name__)


class TensorRTRunner(Runner):
    backend = "tensorrt"
    TIMINGS = "CUDA events on the runner's stream: h2d (input copy), compute (the engine), d2h (output copies)"

    @classmethod
    def from_engine(cls, path, info=None, cuda=None, cuda_backend=None, cuda_graph=False, **_ignored):
        return cls(path, info=info, cuda=cuda, cuda_backend=cuda_backend, cuda_graph=cuda_graph)

    @classmethod
    def from_onnx(cls, path, build=None, engine=None, info=None, cuda_backend=None, cuda_graph=False, **options):
        """Build the engine for ``path`` as ``build`` (a BuildOptions; build options given as keywords, e.g.
        ``fp16=True``, replace its fields; other keywords are ignored) or reuse the cached one with the same
        key, and load it. ``engine``: the engine path."""
        from espnet_edge.runtime.tensorrt.build_options import BuildOptions
        from espnet_edge.runtime.tensorrt.builder import build_engine
        from espnet_edge.runtime.tensorrt.cuda import open_cuda

        build = BuildOptions.pick(build, **options)
        cuda = open_cuda(cuda_backend)
        try:
            engine_path = build_engine(path, build, out=engine, info=info, cuda=cuda)
            return cls(engine_path, info=info, cuda=cuda, cuda_graph=cuda_graph)
        except BaseException:
            cuda.close()
            raise

    def __init__(self, engine_path, info=None, cuda=None, cuda_backend=None, cuda_graph=False, io_api=None,
                 close_cuda=True):
        """``io_api`` 'bindings' or 'tensors' forces one I/O path where the version has both (8.5-8.6,
        for the self-test); ``close_cuda=False`` leaves a shared ``cuda`` open on close()."""
        from espnet_edge.runtime.model_info import ModelInfo
        from espnet_edge.runtime.tensorrt.builder import require_tensorrt
        from espnet_edge.runtime.tensorrt.cuda import open_cuda

        if not os.path.isfile(engine_path):
            raise UserError("engine {} does not exist: build it with `espnet-edge build MODEL.onnx`".format(
                engine_path))
        self.path = engine_path
        self.meta = sidecar.read_sidecar(engine_path, required=info is None)
        if self.meta is not None:
            sidecar.verify_engine_file(engine_path, self.meta)
        if info is None:
            info = ModelInfo.from_dict(self.meta.get("model_info") or {}, source=sidecar.sidecar_path(engine_path))
        Runner.__init__(self, info)
        self.cuda = None
        trt = require_tensorrt()
        self.trt = trt
        self.version = compat.format_version(trt.__version__)
        self.plan = compat.api_plan(trt.__version__)
        if io_api is not None:
            self.plan = self.plan._replace(**_io_plan(io_api, self.version))
        self.close_cuda = close_cuda
        self.cuda = cuda or open_cuda(cuda_backend)
        try:
            self._load(trt, engine_path, cuda_graph)
        except BaseException:
            self.close()
            raise

    def _load(self, trt, engine_path, cuda_graph):
        self.gpu_name, self.capability = self.cuda.device_name(), self.cuda.compute_capability()
        if self.meta is not None:
            sidecar.check_compatible(self.meta, self.version, self.gpu_name, self.capability, engine_path)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        with open(engine_path, "rb") as handle:
            self.engine = self.runtime.deserialize_cuda_engine(handle.read())
        if self.engine is None:
            raise UserError("TensorRT {} could not load engine {} (truncated, or built by another TensorRT "
                            "version); rebuild it with `{}`".format(
                                self.version, engine_path,
                                sidecar.rebuild_command(self.meta or {}, out=engine_path)))
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise UserError("TensorRT {} could not create an execution context for {} (usually out of GPU "
                            "memory: close other GPU programs, or rebuild with a smaller --workspace)".format(
                                self.version, engine_path))
        self.stream = self.cuda.stream()
        self.events = [self.cuda.event() for _ in range(4)]
        self._setup_io()
        self.graph = None
        self.cuda_graph = False
        if cuda_graph:
            self._try_graph()

    # --- I/O description, per API generation -------------------------------------------------
    def _io_tensors(self):
        """[(name, is_input, engine_shape, dtype)] in engine order."""
        engine, trt = self.engine, self.trt
        if self.plan.named_tensors:
            names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
            return [(n, engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT, tuple(engine.get_tensor_shape(n)),
                     engine.get_tensor_dtype(n)) for n in names]
        return [(engine.get_binding_name(i), bool(engine.binding_is_input(i)), tuple(engine.get_binding_shape(i)),
                 engine.get_binding_dtype(i)) for i in range(engine.num_bindings)]

    def _profile_max(self, index, name):
        if self.plan.named_tensors:
            return tuple(self.engine.get_tensor_profile_shape(name, 0)[2])
        return tuple(self.engine.get_profile_shape(0, index)[2])

    def _set_input_shape(self, index, name, shape):
        if self.plan.named_tensors:
            ok = self.context.set_input_shape(name, tuple(shape))
        else:
            ok = self.context.set_binding_shape(index, tuple(shape))
        if ok is False:
            raise UserError("input shape {} is outside the engine's profile for {}".format(list(shape), name))

    def _context_shape(self, index, name):
        if self.plan.named_tensors:
            return tuple(self.context.get_tensor_shape(name))
        return tuple(self.context.get_binding_shape(index))

    def _setup_io(self):
        tensors = self._io_tensors()
        self.io = tensors
        self.inputs = [i for i, t in enumerate(tensors) if t[1]]
        self.outputs = [i for i, t in enumerate(tensors) if not t[1]]
        if len(self.inputs) != 1 or not self.outputs:
            raise UserError("engine {} has {} inputs and {} outputs; espnet-edge engines have one input".format(
                self.path, len(self.inputs), len(self.outputs)))
        self.dynamic = any(is_dynamic(t[2]) for t in tensors)
        input_shape = tensors[self.inputs[0]][2]
        if input_shape and input_shape[0] > 0:
            self.fixed_batch = input_shape[0]
        max_shapes = {}
        for index in self.inputs:
            name, _, shape, _ = tensors[index]
            if is_dynamic(shape):
                max_shapes[name] = self._profile_max(index, name)
                self._set_input_shape(index, name, max_shapes[name])
        for index in self.outputs:
            name = tensors[index][0]
            if is_dynamic(tensors[index][2]):
                max_shapes[name] = self._context_shape(index, name)
        self.layout = buffers.plan_buffers(tensors, max_shapes)
        self.host, self.device = [], []
        for spec in self.layout:
            dtype = buffers.numpy_dtype(spec["dtype"])
            self.host.append(self.cuda.pinned_empty(spec["shape"], dtype))
            self.device.append(self.cuda.alloc(spec["nbytes"]))
        self.current = {}  # input index -> shape currently set in the context
        self._bind_addresses(tensors)

    def _bind_addresses(self, tensors):
        """Device addresses (ints, not the buffer objects) for the bindings list or each named tensor."""
        self.bindings = [int(buf.ptr) for buf in self.device]
        if self.plan.named_tensors:
            for (name, _, _, _), ptr in zip(tensors, self.bindings):
                if self.context.set_tensor_address(name, ptr) is False:
                    raise UserError("TensorRT refused the device address of tensor {}".format(name))

    # --- running -------------------------------------------------------------------------------
    def _enqueue(self):
        handle = self.cuda.stream_handle(self.stream)
        if self.plan.execute_call == "execute_async_v3":
            ok = self.context.execute_async_v3(handle)
        else:
            ok = self.context.execute_async_v2(bindings=self.bindings, stream_handle=handle)
        if not ok:
            raise UserError("TensorRT failed to run engine {} (see its log above)".format(self.path))

    def _try_graph(self):
        if not getattr(self.cuda, "supports_graphs", False):
            log.warning("tensorrt: CUDA graphs need cuda-python (pycuda cannot capture); running without")
            return
        if self.dynamic:
            log.warning("tensorrt: CUDA graphs need static shapes; running without")
            return
        try:
            self._enqueue()  # TensorRT must run once before capture
            self.cuda.synchronize(self.stream)
            self.graph = self.cuda.capture_graph(self.stream, self._enqueue)
            self.cuda_graph = True
        except Exception as exc:  # noqa: BLE001 - capture is an optimisation; fall back to enqueue
            log.warning("tensorrt: CUDA graph capture failed (%s); running without", exc)
            self.graph = None

    def infer_impl(self, batch):
        index = self.inputs[0]
        name, _, engine_shape, _ = self.io[index]
        spec = self.layout[index]
        batch = np.ascontiguousarray(batch, dtype=self.host[index].dtype)
        shape = buffers.resolve_shape(engine_shape, batch.shape)
        if buffers.volume(shape) * batch.itemsize > spec["nbytes"]:
            raise UserError("input {} is larger than the engine's largest shape {}".format(
                list(shape), list(spec["shape"])))
        if self.dynamic and self.current.get(index) != shape:
            self._set_input_shape(index, name, shape)
            self.current[index] = shape
        host_in = self.host[index].reshape(-1)[:batch.size].reshape(shape)
        np.copyto(host_in, batch)
        start, begin_exec, end_exec, end = self.events
        cuda, stream = self.cuda, self.stream
        cuda.record(start, stream)
        cuda.htod_async(self.device[index], host_in, stream)
        cuda.record(begin_exec, stream)
        if self.graph is not None:
            cuda.launch_graph(self.graph, stream)
        else:
            self._enqueue()
        cuda.record(end_exec, stream)
        results = []
        for out in self.outputs:
            out_shape = self._context_shape(out, self.io[out][0]) if self.dynamic else self.layout[out]["shape"]
            host_out = self.host[out].reshape(-1)[:buffers.volume(out_shape)].reshape(out_shape)
            cuda.dtoh_async(host_out, self.device[out], stream)
            results.append(host_out)
        cuda.record(end, stream)
        cuda.synchronize(stream)
        split = (cuda.elapsed_ms(start, begin_exec), cuda.elapsed_ms(begin_exec, end_exec),
                 cuda.elapsed_ms(end_exec, end))
        return results[0].copy(), split

    def describe(self):
        meta = self.meta or {}
        return {
            "backend": self.backend, "tensorrt": self.version, "gpu": self.gpu_name,
            "compute_capability": self.capability, "precision": meta.get("precision", "unknown"),
            "io_api": self.plan.io_api, "execute": self.plan.execute_call, "cuda": self.cuda.name,
            "cuda_graph": self.cuda_graph, "engine": self.path, "jetson": meta.get("jetson"),
            "built_with": meta.get("tensorrt"),
        }

    def close(self):
        cuda = getattr(self, "cuda", None)
        if cuda is None:
            return
        for buf in getattr(self, "device", []):
            cuda.free(buf)
        for host in getattr(self, "host", []):
            cuda.free_pinned(host)
        self.device, self.host = [], []
        self.context = None
        self.engine = None
        self.runtime = None
        if getattr(self, "close_cuda", True):
            cuda.close()
        self.cuda = None


def _io_plan(io_api, version):
    """The plan entries for one engine I/O path, refused where ``version`` does not have it."""
    major_minor = compat.parse_version(version)[:2]
    if io_api == "tensors" and major_minor >= (8, 5):
        return {"io_api": "tensors", "execute_call": "execute_async_v3", "set_input_shape": "set_input_shape"}
    if io_api == "bindings" and major_minor < (10, 0):
        return {"io_api": "bindings", "execute_call": "execute_async_v2", "set_input_shape": "set_binding_shape"}
    raise UserError("TensorRT {} has no {!r} I/O path".format(version, io_api))
