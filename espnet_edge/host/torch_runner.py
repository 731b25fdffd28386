"""Runner on PyTorch (CPU, or CUDA when asked): the authors' networks with their checkpoints."""

import time

import numpy as np
import torch

from espnet_edge.errors import UserError
from espnet_edge.host.models import build_model, check_size
from espnet_edge.runtime.base import Runner
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.zoo import ModelEntry, get_model


class TorchRunner(Runner):
    backend = "torch"
    TIMINGS = ("host clock: h2d = the tensor made and moved to the device, compute = the forward pass "
               "(synchronised on CUDA), d2h = the result back as numpy")

    def __init__(self, entry, weights=None, size=None, batch=1, threads=None, device="cpu"):
        if not isinstance(entry, ModelEntry):
            entry = get_model(entry)
        size = tuple(size) if size else entry.input_size
        check_size(entry, size)
        if int(batch) < 1:
            raise UserError("batch must be at least 1 (got {})".format(batch))
        Runner.__init__(self, ModelInfo.from_zoo(entry, size, batch=batch, weights=weights))
        self.entry = entry
        if threads:
            if int(threads) < 1:
                raise UserError("threads must be at least 1 (got {})".format(threads))
            torch.set_num_threads(int(threads))
        if device != "cpu" and not torch.cuda.is_available():
            raise UserError("torch here has no CUDA device; run with device cpu")
        self.device = torch.device(device)
        # the authors' checkpoints hold denormal weights: without flushing, x86 CPUs run them up to 8x slower
        self.flush_denormal = bool(torch.set_flush_denormal(True))
        self.model = build_model(entry, weights=weights).to(self.device)

    def infer_impl(self, batch):
        marks = [time.perf_counter()]
        tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        self._synchronize()
        marks.append(time.perf_counter())
        with torch.inference_mode():
            logits = self.model(tensor)
        self._synchronize()
        marks.append(time.perf_counter())
        output = logits.cpu().numpy()
        marks.append(time.perf_counter())
        return output, tuple((end - start) * 1000.0 for start, end in zip(marks, marks[1:]))

    def _synchronize(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self):
        return {"backend": self.backend, "model": self.entry.name, "torch": torch.__version__,
                "device": str(self.device), "threads": torch.get_num_threads(),
                "precision": self.info.precision, "flush_denormal": self.flush_denormal}

    def close(self):
        self.model = None
