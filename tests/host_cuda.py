"""A stand-in for the GPU: the CUDA backend interface of espnet_edge.runtime.tensorrt.cuda, over host memory.

Device "pointers" are integers into ``memory`` ({ptr: bytearray}); copies really move the bytes, so
a runner that binds the wrong address or copies the wrong size gets wrong numbers, not a pass.
Stands in for hardware we lack (no GPU here); it is not NVIDIA's API, which the bindings test checks.
"""

import time

import numpy as np

from espnet_edge.runtime.tensorrt.cuda import DeviceBuffer


class HostCuda(object):
    name = "host-memory stand-in"

    def __init__(self, supports_graphs=True, gpu="Stand-in GPU", capability="8.7"):
        self.supports_graphs = supports_graphs
        self.gpu = gpu
        self.capability = capability
        self.memory = {}
        self.next_ptr = 0x10000
        self.freed = []
        self.graphs_launched = 0
        self.closed = False

    def device_name(self):
        return self.gpu

    def compute_capability(self):
        return self.capability

    def alloc(self, nbytes):
        ptr = self.next_ptr
        self.next_ptr += (int(nbytes) + 0xFFF) & ~0xFFF or 0x1000
        self.memory[ptr] = bytearray(max(int(nbytes), 1))
        return DeviceBuffer(ptr, nbytes)

    def free(self, buffer):
        if buffer.ptr:
            del self.memory[buffer.ptr]
            self.freed.append(buffer.ptr)
            buffer.ptr = 0

    def read(self, ptr, dtype, shape):
        count = int(np.prod(shape))
        return np.frombuffer(bytes(self.memory[ptr]), dtype=dtype, count=count).reshape(shape)

    def write(self, ptr, array):
        data = np.ascontiguousarray(array).tobytes()
        self.memory[ptr][:len(data)] = data

    def pinned_empty(self, shape, dtype):
        return np.empty(tuple(shape), dtype)

    def free_pinned(self, array):
        pass

    def stream(self):
        return object()

    def stream_handle(self, stream):
        return 0x5000 + id(stream) % 0x1000

    def htod_async(self, buffer, host, stream):
        self.write(buffer.ptr, host)

    def htod(self, buffer, host):
        self.write(buffer.ptr, host)

    def dtoh_async(self, host, buffer, stream):
        host[...] = self.read(buffer.ptr, host.dtype, host.shape)

    def synchronize(self, stream):
        pass

    def event(self):
        return [None]

    def record(self, event, stream):
        # every "stream" operation here has finished when its call returns: the host clock at the
        # record is when the event completes on the stream
        event[0] = time.perf_counter()

    def elapsed_ms(self, start, end):
        if start[0] is None or end[0] is None:
            raise RuntimeError("elapsed_ms of an event that was never recorded")
        return (end[0] - start[0]) * 1000.0

    def capture_graph(self, stream, enqueue):
        return enqueue  # "replaying" the graph re-runs what was captured

    def launch_graph(self, graph_exec, stream):
        self.graphs_launched += 1
        graph_exec()

    def close(self):
        self.closed = True
