"""Buffer sizes from shapes and dtypes, -1 dims resolved by the profile, and --shapes parsing."""

import numpy as np
import pytest

from espnet_edge.errors import UserError
from espnet_edge.runtime.tensorrt import buffers
from espnet_edge.runtime.tensorrt.shapes import fill_profile, parse_shapes


def test_nbytes_per_dtype():
    assert buffers.nbytes((1, 3, 512, 1024), "FLOAT") == 3 * 512 * 1024 * 4
    assert buffers.nbytes((1, 20, 512, 1024), "DataType.HALF") == 20 * 512 * 1024 * 2
    assert buffers.nbytes((1, 512, 1024), "INT32") == 512 * 1024 * 4
    assert buffers.nbytes((2, 512, 1024), "INT64") == 2 * 512 * 1024 * 8
    assert buffers.nbytes((4, 8), "INT8") == 32


def test_numpy_dtypes_match_element_sizes():
    for name, (size, np_name) in buffers.DTYPES.items():
        if np_name:
            assert buffers.numpy_dtype(name).itemsize == size
    with pytest.raises(UserError, match="no numpy"):
        buffers.numpy_dtype("BF16")
    with pytest.raises(UserError, match="not one espnet-edge"):
        buffers.element_size("COMPLEX")


def test_dynamic_shape_cannot_be_sized():
    with pytest.raises(UserError, match="dynamic"):
        buffers.nbytes((-1, 3, 512, 1024), "FLOAT")


def test_resolve_shape():
    assert buffers.resolve_shape((-1, 3, -1, -1), (4, 3, 256, 512)) == (4, 3, 256, 512)
    with pytest.raises(UserError, match="does not fit"):
        buffers.resolve_shape((1, 3, 512, 1024), (1, 3, 256, 512))
    with pytest.raises(UserError, match="rank"):
        buffers.resolve_shape((1, 3, 512, 1024), (3, 512, 1024))


def test_plan_buffers_uses_profile_max_for_dynamic_dims():
    tensors = [("input", True, (-1, 3, 512, 1024), "FLOAT"), ("logits", False, (-1, 20, 512, 1024), "HALF")]
    plan = buffers.plan_buffers(tensors, {"input": (8, 3, 512, 1024), "logits": (8, 20, 512, 1024)})
    assert [p["shape"] for p in plan] == [(8, 3, 512, 1024), (8, 20, 512, 1024)]
    assert plan[0]["nbytes"] == 8 * 3 * 512 * 1024 * 4
    assert plan[1]["nbytes"] == 8 * 20 * 512 * 1024 * 2
    assert plan[0]["is_input"] and not plan[1]["is_input"]
    # the pinned host buffer the runner allocates has exactly this many bytes
    assert np.empty(plan[1]["shape"], buffers.numpy_dtype(plan[1]["dtype"])).nbytes == plan[1]["nbytes"]
    with pytest.raises(UserError, match="no profile shape"):
        buffers.plan_buffers(tensors, {"input": (8, 3, 512, 1024)})


def test_static_tensors_need_no_profile():
    plan = buffers.plan_buffers([("x", True, (1, 3, 32, 64), "FLOAT")], {})
    assert plan[0]["nbytes"] == 3 * 32 * 64 * 4


def test_parse_shapes_single_and_triple():
    assert parse_shapes(["input:1x3x512x1024"]) == {"input": ((1, 3, 512, 1024),) * 3}
    shapes = parse_shapes("input:1x3x256x512/1x3x512x1024/4x3x1024x2048,mask:1x1")
    assert shapes["input"] == ((1, 3, 256, 512), (1, 3, 512, 1024), (4, 3, 1024, 2048))
    assert shapes["mask"] == ((1, 1),) * 3
    assert parse_shapes(None) == {}


@pytest.mark.parametrize("bad, message", [
    ("1x3x512x1024", "NAME:DIMS"),
    ("input:1x3xAx1024", "dims joined by x"),
    ("input:1x3/1x3", "MIN/OPT/MAX"),
    ("input:1x3x4/1x3/1x3x4", "same rank"),
    ("input:4x3/1x3/8x3", "MIN <= OPT <= MAX"),
    ("input:0x3", "zero"),
    ("a:1x3,a:1x3", "twice"),
])
def test_parse_shapes_errors(bad, message):
    with pytest.raises(UserError, match=message):
        parse_shapes([bad])


def test_fill_profile():
    given = parse_shapes(["input:1x3x256x512/1x3x512x1024/2x3x512x1024"])
    assert fill_profile("input", (-1, 3, -1, -1), given)[2] == (2, 3, 512, 1024)
    assert fill_profile("other", (1, 3, 8, 8), given) == ((1, 3, 8, 8),) * 3
    with pytest.raises(UserError, match="--shapes x:Nx3xNxN"):
        fill_profile("x", (-1, 3, -1, -1), given)
    with pytest.raises(UserError, match="fixed to 4"):
        fill_profile("input", (-1, 4, -1, -1), given)
