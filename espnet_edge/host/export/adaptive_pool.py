"""Adaptive average pooling as two MatMuls with constant averaging matrices (export time only).

For fixed input and output sizes, ``F.adaptive_avg_pool2d`` is a separable linear map: output row i
averages input rows floor(i*H/h) .. ceil((i+1)*H/h)-1, and likewise for columns, for any h (smaller,
not dividing, or LARGER than H). So ``pool(x) = A_h @ x @ A_w^T`` with A holding 1/count in each
window. TensorRT 8.2 has MatMul but no adaptive pooling; ESPNetv2's pyramid pooling needs sizes that
do not divide the map, which plain AveragePool cannot express.
"""

import contextlib

import numpy as np
import torch


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
    rows = torch.from_numpy(averaging_matrix(height, out_h)).to(x.dtype)
    cols_t = torch.from_numpy(averaging_matrix(width, out_w).T.copy()).to(x.dtype)
    out = x
    if out_w != width:
        out = torch.matmul(out, cols_t)  # [N, C, H, w]
    if out_h != height:
        out = torch.matmul(rows, out)  # [h, H] @ [N, C, H, w] -> [N, C, h, w]
    return out


@contextlib.contextmanager
def patched_pyramid_pool():
    """Swap ESPNetv2's ``pyramid_pool`` for the MatMul form while exporting; restored on exit."""
    from espnet_edge.host.models import espnetv2

    original = espnetv2.pyramid_pool
    espnetv2.pyramid_pool = adaptive_avg_pool2d_matmul
    try:
        yield
    finally:
        espnetv2.pyramid_pool = original
