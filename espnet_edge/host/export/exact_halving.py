"""ESPNet's preprocessing of a frame twice the network size (2048x1024 -> 1024x512), bit for bit.

The checkpoint normalises first, then resizes with OpenCV (preprocess.preprocess). OpenCV's INTER_LINEAR
at exactly half the size runs its area code: each output is ((a + b) + (c + d)) * 0.25, the two pixels of
each row summed, then the two rows. A convolution with the normalisation folded in (frame_graph's block
form) is the same sum in another order: equal up to float32 rounding, and a network can turn the last bit
into another class on a near-tie. Here every step is OpenCV's own:

- each pixel normalised as preprocess.normalize does, ``(x * scale - mean) / std`` per channel, against a
  row-long table of the channel constants (a broadcast over whole rows: 3-wide ones run 5x slower in ONNX
  Runtime);
- each row's pixel pairs summed by a MatMul with a 0/1 matrix: two non-zero terms, exact in any order;
- the row pairs added, then ``* 0.25`` and ``/ divide`` at the network size.

Tested bit-identical to the CPU path (tests/test_frame_graph.py).
"""

import numpy as np
import torch
import torch.nn as nn


class ExactHalving(nn.Module):
    """Raw frame [N, H, W, 3] (float, 0..255, BGR) -> the normalised NCHW input at [H / 2, W / 2], channels
    in ``perm`` order (output channel o from frame channel perm[o])."""

    def __init__(self, spec, frame_width, perm):
        super().__init__()
        source_of = {source: out for out, source in enumerate(perm)}  # frame channel -> output channel
        mean = [spec.mean[source_of[c]] for c in range(3)]
        std = [spec.std[source_of[c]] for c in range(3)]
        self.register_buffer("mean_row", torch.tensor(mean * frame_width, dtype=torch.float32))
        self.register_buffer("std_row", torch.tensor(std * frame_width, dtype=torch.float32))
        pairs = np.zeros((6, 3), dtype=np.float32)
        for out, source in enumerate(perm):
            pairs[source, out] = pairs[3 + source, out] = 1.0
        self.register_buffer("pairs", torch.from_numpy(pairs))
        self.scale, self.divide = float(spec.scale), float(spec.divide)

    def forward(self, frame):
        n, height, width, _ = frame.shape
        x = frame.reshape(n, height, width * 3)
        if self.scale != 1.0:
            x = x * self.scale
        x = (x - self.mean_row) / self.std_row
        rows = torch.matmul(x.reshape(n, height, width // 2, 6), self.pairs)  # [N, H, W / 2, 3]
        rows = rows.reshape(n, height // 2, 2, (width // 2) * 3)
        out = (rows[:, :, 0] + rows[:, :, 1]).reshape(n, height // 2, width // 2, 3) * 0.25
        if self.divide != 1.0:
            out = out / self.divide
        return out.permute(0, 3, 1, 2)
