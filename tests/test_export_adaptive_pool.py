"""The MatMul form of adaptive average pooling equals PyTorch's, alone and inside ESPNetv2."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from espnet_edge.host.export.adaptive_pool import (adaptive_avg_pool2d_matmul, averaging_matrix,
                                                   patched_pyramid_pool)


@pytest.mark.parametrize("in_hw,out_hw", [
    ((7, 11), (5, 5)),      # does not divide
    ((8, 16), (4, 8)),      # divides
    ((7, 11), (14, 17)),    # upsampling, not a multiple
    ((4, 6), (5, 5)),       # the EPP minimum of 5 above the map size
    ((16, 32), (2, 4)),     # scale 0.1 rounded up
    ((13, 9), (1, 1)),      # global
    ((32, 64), (48, 96)),   # scale 1.5
    ((64, 128), (32, 64)),  # the 2.0x level pooled back: a plain 2x2 AveragePool
    ((16, 33), (8, 5)),     # one axis regular (AveragePool), the other not (MatMul)
    ((48, 96), (32, 64)),   # the 1.5x level pooled back
])
def test_matmul_pool_equals_adaptive_avg_pool(in_hw, out_hw):
    x = torch.randn(2, 3, *in_hw, generator=torch.Generator().manual_seed(0))
    expected = F.adaptive_avg_pool2d(x, out_hw)
    got = adaptive_avg_pool2d_matmul(x, out_hw)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("in_hw,out_hw,ops", [
    ((64, 128), (32, 64), {"AveragePool"}),
    ((16, 33), (8, 5), {"AveragePool", "MatMul"}),
    ((48, 96), (32, 64), {"MatMul"}),
])
def test_regular_windows_export_as_average_pool(tmp_path, in_hw, out_hw, ops):
    import onnx

    class Pool(torch.nn.Module):
        def forward(self, x):
            return adaptive_avg_pool2d_matmul(x, out_hw)

    path = str(tmp_path / "pool.onnx")
    torch.onnx.export(Pool(), torch.randn(1, 2, *in_hw), path, opset_version=13, dynamo=False)
    exported = set(n.op_type for n in onnx.load(path).graph.node) - {"Constant"}
    assert exported == ops


def test_averaging_matrix_rows_are_windows():
    matrix = averaging_matrix(7, 3)  # windows [0,3), [2,5), [4,7)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert np.count_nonzero(matrix[1]) == 3 and matrix[1, 2] == pytest.approx(1 / 3.0)
    up = averaging_matrix(2, 5)  # every output row takes one or two inputs
    assert (np.count_nonzero(up, axis=1) >= 1).all() and (np.count_nonzero(up, axis=1) <= 2).all()


def test_patch_is_restored_and_network_logits_match(shared):
    from espnet_edge.host.models import build_model, espnetv2

    net = build_model("espnetv2-s0.5-city-512")
    original = espnetv2.pyramid_pool
    x = torch.randn(1, 3, 96, 160, generator=torch.Generator().manual_seed(1))  # maps of 6x10, 3x5...
    with torch.no_grad():
        expected = net(x)
        with patched_pyramid_pool():
            assert espnetv2.pyramid_pool is adaptive_avg_pool2d_matmul
            got = net(x)
    assert espnetv2.pyramid_pool is original
    assert torch.allclose(got, expected, atol=1e-4, rtol=0)
    assert (got.argmax(1) == expected.argmax(1)).float().mean().item() > 0.999
