"""The few CUDA calls the runner and calibrator need, over pycuda or cuda-python (``cuda.cudart``).

    backend = open_cuda()            # pycuda first (JetPack 4.6), else cuda-python
    host = backend.pinned_empty(shape, dtype)   # page-locked numpy array
    dev = backend.alloc(nbytes)      # device buffer; int(dev.ptr) is the address
    stream = backend.stream()
    backend.htod_async(dev, host, stream); backend.dtoh_async(host, dev, stream)
    start, end = backend.event(), backend.event(); backend.record(start, stream) ...
    backend.elapsed_ms(start, end)

CUDA graph capture is offered only by the cuda-python backend (pycuda has no stream-capture API):
``supports_graphs`` says which.
"""

import ctypes

from espnet_edge.errors import MissingDependency, UserError

INSTALL_HINT = ("install pycuda (`pip3 install pycuda`, needs the CUDA toolkit headers: "
                "export PATH=/usr/local/cuda/bin:$PATH) or cuda-python, or use the espnet-edge "
                "Docker image (Dockerfile.jetson)")


class DeviceBuffer(object):
    def __init__(self, ptr, nbytes, owner=None):
        self.ptr = int(ptr)
        self.nbytes = int(nbytes)
        self.owner = owner  # keeps the pycuda allocation alive


class PyCudaBackend(object):
    name = "pycuda"
    supports_graphs = False

    def __init__(self, device=0):
        import pycuda.driver as driver

        self.driver = driver
        driver.init()
        if driver.Device.count() < 1:
            raise UserError("no CUDA device found (pycuda sees none)")
        self.device = driver.Device(device)
        # the primary context is the one the CUDA runtime inside TensorRT uses
        self.context = self.device.retain_primary_context()
        self.context.push()

    def device_name(self):
        return self.device.name()

    def compute_capability(self):
        major, minor = self.device.compute_capability()
        return "{}.{}".format(major, minor)

    def alloc(self, nbytes):
        allocation = self.driver.mem_alloc(max(int(nbytes), 1))
        return DeviceBuffer(int(allocation), nbytes, owner=allocation)

    def free(self, buffer):
        if buffer.owner is not None:
            buffer.owner.free()
            buffer.owner = None

    def pinned_empty(self, shape, dtype):
        return self.driver.pagelocked_empty(tuple(shape), dtype)

    def free_pinned(self, array):
        base = getattr(array, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()

    def stream(self):
        return self.driver.Stream()

    def stream_handle(self, stream):
        return stream.handle

    def htod_async(self, buffer, host, stream):
        self.driver.memcpy_htod_async(buffer.ptr, host, stream)

    def dtoh_async(self, host, buffer, stream):
        self.driver.memcpy_dtoh_async(host, buffer.ptr, stream)

    def htod(self, buffer, host):
        self.driver.memcpy_htod(buffer.ptr, host)

    def synchronize(self, stream):
        stream.synchronize()

    def event(self):
        return self.driver.Event()

    def record(self, event, stream):
        event.record(stream)

    def elapsed_ms(self, start, end):
        end.synchronize()
        return end.time_since(start)

    def close(self):
        if self.context is not None:
            self.context.pop()
            self.context = None


def _import_cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart
    return cudart


class CudaPythonBackend(object):
    name = "cuda-python"
    supports_graphs = True

    def __init__(self, device=0):
        self.cudart = _import_cudart()
        count = self._check(self.cudart.cudaGetDeviceCount())
        if count < 1:
            raise UserError("no CUDA device found (cuda-python sees none)")
        self._check(self.cudart.cudaSetDevice(device))
        self.props = self._check(self.cudart.cudaGetDeviceProperties(device))
        self._pinned = {}  # id(array) -> cudaMallocHost pointer, for free_pinned

    def _check(self, result):
        err, rest = result[0], result[1:]
        if int(err) != 0:
            name = self.cudart.cudaGetErrorName(err)[1]
            raise UserError("CUDA call failed: {}".format(name.decode() if isinstance(name, bytes) else name))
        if not rest:
            return None
        return rest[0] if len(rest) == 1 else rest

    def device_name(self):
        name = self.props.name
        return (name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)).rstrip("\x00")

    def compute_capability(self):
        return "{}.{}".format(self.props.major, self.props.minor)

    def alloc(self, nbytes):
        return DeviceBuffer(self._check(self.cudart.cudaMalloc(max(int(nbytes), 1))), nbytes)

    def free(self, buffer):
        if buffer.ptr:
            self._check(self.cudart.cudaFree(buffer.ptr))
            buffer.ptr = 0

    def pinned_empty(self, shape, dtype):
        import numpy as np

        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
        ptr = self._check(self.cudart.cudaMallocHost(nbytes))
        raw = (ctypes.c_byte * nbytes).from_address(int(ptr))
        array = np.frombuffer(raw, dtype=np.uint8, count=nbytes)[:int(np.prod(shape)) * dtype.itemsize]
        array = array.view(dtype).reshape(tuple(shape))
        self._pinned[id(array)] = int(ptr)
        return array

    def free_pinned(self, array):
        ptr = self._pinned.pop(id(array), None)
        if ptr:
            self._check(self.cudart.cudaFreeHost(ptr))

    def stream(self):
        return self._check(self.cudart.cudaStreamCreate())

    def stream_handle(self, stream):
        return int(stream)

    def htod_async(self, buffer, host, stream):
        self._check(self.cudart.cudaMemcpyAsync(buffer.ptr, host.ctypes.data, host.nbytes,
                                                self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))

    def dtoh_async(self, host, buffer, stream):
        self._check(self.cudart.cudaMemcpyAsync(host.ctypes.data, buffer.ptr, host.nbytes,
                                                self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))

    def htod(self, buffer, host):
        self._check(self.cudart.cudaMemcpy(buffer.ptr, host.ctypes.data, host.nbytes,
                                           self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))

    def synchronize(self, stream):
        self._check(self.cudart.cudaStreamSynchronize(stream))

    def event(self):
        return self._check(self.cudart.cudaEventCreate())

    def record(self, event, stream):
        self._check(self.cudart.cudaEventRecord(event, stream))

    def elapsed_ms(self, start, end):
        self._check(self.cudart.cudaEventSynchronize(end))
        return float(self._check(self.cudart.cudaEventElapsedTime(start, end)))

    # CUDA graphs: capture what a callable enqueues on ``stream``, replay it with one launch.
    def capture_graph(self, stream, enqueue):
        mode = self.cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        self._check(self.cudart.cudaStreamBeginCapture(stream, mode))
        try:
            enqueue()
        finally:
            graph = self._check(self.cudart.cudaStreamEndCapture(stream))
        # cudaGraphInstantiateWithFlags has the same signature in CUDA 11.4+ and 12 (cudaGraphInstantiate not)
        return self._check(self.cudart.cudaGraphInstantiateWithFlags(graph, 0))

    def launch_graph(self, graph_exec, stream):
        self._check(self.cudart.cudaGraphLaunch(graph_exec, stream))

    def close(self):
        pass


def open_cuda(prefer=None, device=0):
    """A CUDA backend: ``prefer`` 'pycuda' or 'cuda-python'; by default pycuda, then cuda-python.

    Raises MissingDependency when neither is installed, UserError when there is no CUDA device.
    """
    order = [prefer] if prefer else ["pycuda", "cuda-python"]
    errors = []
    for name in order:
        try:
            if name == "pycuda":
                return PyCudaBackend(device)
            if name == "cuda-python":
                return CudaPythonBackend(device)
            raise UserError("unknown CUDA backend {!r}: choose pycuda or cuda-python".format(name))
        except ImportError as exc:
            errors.append("{}: {}".format(name, exc))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - driver errors (no GPU, no driver) become one line
            raise UserError("CUDA is not usable here ({}: {}); run on a machine with an NVIDIA GPU and "
                            "driver".format(name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    raise MissingDependency("no CUDA Python binding ({}); {}".format("; ".join(errors), INSTALL_HINT))
