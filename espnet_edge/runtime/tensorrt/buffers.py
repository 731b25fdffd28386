"""Size arithmetic for engine I/O buffers: shapes (with -1 dims resolved) times element sizes."""

from espnet_edge.errors import UserError
from espnet_edge.runtime.tensorrt.shapes import is_dynamic

# TensorRT DataType name -> (bytes per element, numpy dtype name or None where numpy has none)
DTYPES = {
    "FLOAT": (4, "float32"),
    "HALF": (2, "float16"),
    "INT8": (1, "int8"),
    "INT32": (4, "int32"),
    "INT64": (8, "int64"),
    "BOOL": (1, "bool"),
    "UINT8": (1, "uint8"),
    "BF16": (2, None),
    "FP8": (1, None),
}


def dtype_name(trt_dtype):
    """trt.DataType.FLOAT / 'DataType.FLOAT' / 'FLOAT' -> 'FLOAT'."""
    name = getattr(trt_dtype, "name", None) or str(trt_dtype)
    return name.split(".")[-1].upper()


def element_size(dtype):
    name = dtype_name(dtype)
    if name not in DTYPES:
        raise UserError("engine tensor type {} is not one espnet-edge can feed".format(name))
    return DTYPES[name][0]


def numpy_dtype(dtype):
    import numpy as np

    name = dtype_name(dtype)
    if name not in DTYPES or DTYPES[name][1] is None:
        raise UserError("engine tensor type {} has no numpy equivalent; rebuild the engine with "
                        "FP32 or FP16 inputs and outputs".format(name))
    return np.dtype(DTYPES[name][1])


def volume(shape):
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


def resolve_shape(engine_shape, concrete):
    """Replace -1 dims of ``engine_shape`` with those of ``concrete`` (same rank, fixed dims equal)."""
    engine_shape = tuple(int(d) for d in engine_shape)
    concrete = tuple(int(d) for d in concrete)
    if len(engine_shape) != len(concrete):
        raise UserError("shape {} does not fit the engine's {}: rank differs".format(
            list(concrete), list(engine_shape)))
    for fixed, given in zip(engine_shape, concrete):
        if given < 0:
            raise UserError("shape {} still has a dynamic dimension".format(list(concrete)))
        if fixed >= 0 and fixed != given:
            raise UserError("shape {} does not fit the engine's {}".format(list(concrete), list(engine_shape)))
    return concrete


def nbytes(shape, dtype):
    if is_dynamic(shape):
        raise UserError("cannot size a buffer for dynamic shape {}".format(list(shape)))
    return volume(shape) * element_size(dtype)


def plan_buffers(tensors, max_shapes):
    """Buffers to allocate once and reuse for every frame.

    ``tensors``: [(name, is_input, engine_shape, dtype)] in engine order.
    ``max_shapes``: {name: shape} the largest concrete shape each tensor takes (profile max for
    inputs; for outputs the shape the execution context reports at the inputs' max shapes).
    Returns [{'name', 'is_input', 'shape', 'dtype', 'nbytes'}].
    """
    planned = []
    for name, is_input, engine_shape, dtype in tensors:
        shape = tuple(int(d) for d in engine_shape)
        if is_dynamic(shape):
            if name not in max_shapes:
                raise UserError("tensor {} has dynamic shape {} and no profile shape".format(name, list(shape)))
            shape = resolve_shape(shape, max_shapes[name])
        planned.append({"name": name, "is_input": bool(is_input), "shape": shape,
                        "dtype": dtype_name(dtype), "nbytes": nbytes(shape, dtype)})
    return planned
