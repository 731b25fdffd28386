"""Adaptive average pooling as two MatMuls with constant averaging matrices (export time only).

For fixed input and output sizes, ``F.adaptive_avg_pool2d`` is a separable linear map: output row i
averages input rows floor(i*H/h) .. ceil((i+1)*H/h)-1, and likewise for columns, for any h (smaller,
not dividing, or LARGER than H). So ``pool(x) = A_h @ x @ A_w^T`` with A holding 1/count in each
window. TensorRT 8.2 has MatMul but no adaptive pooling; ESPNetv2's pyramid pooling needs sizes that
do not divide the map, which plain AveragePool cannot express.

Along an axis whose output size divides the input size the windows are regular (size = stride =
in/out): that axis is pooled with ``F.avg_pool2d`` (an ONNX AveragePool, which TensorRT and ONNX
Runtime run in one cheap pass) instead of a dense MatMul. ESPNetv2's 2.0x pyramid level pools an
exactly 2x upsampled map back, a plain 2x2 AveragePool; as a MatMul it was the most expensive node
of the graph on the CPU (a [2W, W] averaging matrix is almost all zeros).
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from espnet_edge.host.models import espnetv2


def averaging_matrix(in_size, out_size):
    """[out_size, in_size] float64 matrix whose row i averages PyTorch's i-th adaptive window."""
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)  # ceil
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool2d_matmul(x, output_size):
    """Same result as ``F.adaptive_avg_pool2d(x, output_size)`` for NCHW ``x`` with static shape."""
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    height, width = int(x.shape[-2]), int(x.shape[-1])
    out_h = height if output_size[0] is None else int(output_size[0])
    out_w = width if output_size[1] is None else int(output_size[1])
    # regular windows (out divides in) -> AveragePool along that axis; the rest -> MatMul
    regular_h = out_h <= height and height % out_h == 0
    regular_w = out_w <= width and width % out_w == 0
    kernel = (height // out_h if regular_h else 1, width // out_w if regular_w else 1)
    out = x
    if kernel != (1, 1):
        out = F.avg_pool2d(out, kernel_size=kernel, stride=kernel)
    if not regular_w:
        cols_t = torch.from_numpy(averaging_matrix(width, out_w).T.copy()).to(x.dtype)
        out = torch.matmul(out, cols_t)  # [N, C, H', W] @ [W, w] -> [N, C, H', w]
    if not regular_h:
        rows = torch.from_numpy(averaging_matrix(height, out_h)).to(x.dtype)
        out = torch.matmul(rows, out)  # [h, H] @ [N, C, H, w] -> [N, C, h, w]
    return out


@contextlib.contextmanager
def patched_pyramid_pool():
    """Swap ESPNetv2's ``pyramid_pool`` for the MatMul form while exporting; restored on exit."""
    original = espnetv2.pyramid_pool
    espnetv2.pyramid_pool = adaptive_avg_pool2d_matmul
    try:
        yield
    finally:
        espnetv2.pyramid_pool = original
