"""Runner on PyTorch (CPU, or CUDA when asked): the authors' networks with their checkpoints."""

import numpy as np
import torch

from espnet_edge.errors import UserError
from espnet_edge.host.models import build_model, check_size
from espnet_edge.runtime.base import Runner
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.zoo import ModelEntry, get_model


class TorchRunner(Runner):
    backend = "torch"

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

    def infer(self, batch):
        batch = np.asarray(batch)
        expected = self.info.input_shape
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(expected[1:]):
            raise UserError("{} expects input shaped [N, {}, {}, {}], got {}".format(
                self.entry.name, expected[1], expected[2], expected[3], list(batch.shape)))
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            return self.model(tensor).cpu().numpy()

    def describe(self):
        return {"backend": self.backend, "model": self.entry.name, "torch": torch.__version__,
                "device": str(self.device), "threads": torch.get_num_threads(),
                "precision": self.info.precision, "flush_denormal": self.flush_denormal}

    def close(self):
        self.model = None
