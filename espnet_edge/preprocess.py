"""Turn a BGR uint8 frame into the network's input tensor, exactly as each checkpoint was trained.

numpy and OpenCV only (device side). The spec format is documented in ``espnet_edge.zoo``.
"""

import numpy as np

from espnet_edge.errors import UserError


def _cv2():
    try:
        import cv2
    except ImportError:
        raise UserError("OpenCV is needed for image processing; pip install opencv-python")
    return cv2


# Pillow (>= 4.3) resamples 8-bit images with fixed-point coefficients of this many fraction bits.
PIL_PRECISION_BITS = 32 - 8 - 2


def pil_bilinear_weights(in_size, out_size):
    """Tap indices and weights of PIL's antialiased bilinear (triangle) filter along one axis,
    computed as Pillow's ``precompute_coeffs`` does (float64).

    Returns (index[out, taps], weight[out, taps]) so that out = sum(x[index] * weight).
    """
    scale = in_size / float(out_size)
    filterscale = max(scale, 1.0)
    support = filterscale  # the triangle filter's support is 1
    inverse = 1.0 / filterscale
    taps = int(np.ceil(support)) * 2 + 1
    centers = (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(centers - support + 0.5), 0).astype(np.int64)
    last = np.minimum(np.trunc(centers + support + 0.5), in_size).astype(np.int64)
    index = first[:, None] + np.arange(taps)[None, :]
    weight = np.clip(1.0 - np.abs((index - centers[:, None] + 0.5) * inverse), 0.0, None)
    weight[index >= last[:, None]] = 0.0
    total = weight.sum(axis=1, keepdims=True)
    weight = np.where(total != 0.0, weight / np.where(total != 0.0, total, 1.0), weight)
    index = np.clip(index, 0, in_size - 1)
    return index, weight


def pil_bilinear_coefficients(in_size, out_size):
    """(index, int32 coefficients): the weights rounded to PIL_PRECISION_BITS as Pillow does."""
    index, weight = pil_bilinear_weights(in_size, out_size)
    scaled = weight * float(1 << PIL_PRECISION_BITS)
    return index, np.trunc(np.where(scaled < 0, scaled - 0.5, scaled + 0.5)).astype(np.int32)


# an in-graph (float32) Pillow pass splits each coefficient c = hi * 2**PIL_SPLIT_BITS + lo so that both
# partial sums stay integers below 2**24 (host/export/frame_graph.py)
PIL_SPLIT_BITS = 11


def pil_pass_exact(in_size, out_size):
    """True when one Pillow pass in_size -> out_size is reproduced exactly in float32 (by the frame
    graph's split coefficients): 255 x the largest sum of low parts, plus the rounding terms, stays
    below 2**24. False beyond ~8x downscaling along the axis."""
    _index, coeffs = pil_bilinear_coefficients(in_size, out_size)
    low = coeffs & ((1 << PIL_SPLIT_BITS) - 1)
    worst = 255.0 * low.sum(axis=1).max() + 3 * (1 << (PIL_PRECISION_BITS - 1))
    return bool(worst < float(1 << 24))


def _resample_rows(rows, out_size):
    """One separable pass along axis 0 of a uint8 2-D array, rounding back to uint8 like Pillow's
    8-bit path (int32 fixed point: Pillow's own width, no overflow). Gathering whole rows keeps
    every tap a contiguous copy."""
    index, coeffs = pil_bilinear_coefficients(rows.shape[0], out_size)
    source = rows.astype(np.int32)
    acc = np.full((out_size, rows.shape[1]), 1 << (PIL_PRECISION_BITS - 1), dtype=np.int32)
    taken = np.empty_like(acc)
    for tap in range(index.shape[1]):
        if not coeffs[:, tap].any():
            continue
        np.take(source, index[:, tap], axis=0, out=taken)
        taken *= coeffs[:, tap, None]
        acc += taken
    np.right_shift(acc, PIL_PRECISION_BITS, out=acc)
    return np.clip(acc, 0, 255).astype(np.uint8)


def _resample_axis(image, out_size, axis):
    """One pass along ``axis`` (0: rows, 1: columns) of a uint8 HxWxC array."""
    height, width, channels = image.shape
    if axis == 0:
        return _resample_rows(image.reshape(height, width * channels), out_size).reshape(
            out_size, width, channels)
    columns = np.ascontiguousarray(image.transpose(1, 0, 2)).reshape(width, height * channels)
    out = _resample_rows(columns, out_size).reshape(out_size, height, channels)
    return np.ascontiguousarray(out.transpose(1, 0, 2))


def pil_vertical_first(in_width, in_height, width, height):
    """Recent Pillow (13.0 checked) runs the vertical pass first when the height shrinks by more
    than twice as many pixels as the width; older Pillow always ran the horizontal pass first.
    The order changes at most a few pixel values by one."""
    shrink_y = in_height - height
    return shrink_y > 0 and shrink_y > (in_width - width) * 2


def resize_pil_bilinear(image, width, height, vertical_first=None):
    """PIL's Image.resize((width, height), BILINEAR) on a uint8 HxWxC array, in numpy: the same
    antialiased filter, pass order, fixed-point arithmetic and uint8 rounding.
    ``vertical_first``: None follows recent Pillow; False reproduces Pillow before that rule."""
    out = np.asarray(image, dtype=np.uint8)
    if vertical_first is None:
        vertical_first = pil_vertical_first(out.shape[1], out.shape[0], width, height)
    passes = [(1, width), (0, height)]
    for axis, size in (passes[::-1] if vertical_first else passes):
        if out.shape[axis] != size:
            out = _resample_axis(out, size, axis)
    return out


def resize(image, size, method):
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    if method == "pil_bilinear":
        return resize_pil_bilinear(image, width, height)
    if method == "cv2_bilinear":
        return _cv2().resize(image, (width, height), interpolation=_cv2().INTER_LINEAR)
    raise UserError("unknown resize method {!r} in the preprocessing spec".format(method))


def to_channel_order(frame_bgr, order):
    if order == "BGR":
        return frame_bgr
    if order == "RGB":
        return frame_bgr[:, :, ::-1]
    raise UserError("unknown channel order {!r} in the preprocessing spec".format(order))


def resize_raw(frame_bgr, spec, size):
    """The part of preprocessing a graph with fused normalisation leaves outside: channel order and
    resize. Returns float32 HxWxC pixels 0..255 in the checkpoint's channel order."""
    image = to_channel_order(frame_bgr, spec.channel_order)
    if spec.resize_first:
        image = resize(np.ascontiguousarray(image), size, spec.resize)
        return image.astype(np.float32)
    return resize(image.astype(np.float32), size, spec.resize)


def normalize(pixels, spec, divide=True):
    """float HxWxC pixels -> normalised float32 HxWxC (scale, mean, std and, if asked, divide)."""
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    out = (pixels.astype(np.float32) * np.float32(spec.scale) - mean) / std
    if divide and spec.divide != 1.0:
        out = out / np.float32(spec.divide)
    return out


def frame_batch(frame_bgr, frame_size, dtype="float32", resize_frames=False):
    """The raw frame as a 1-image NHWC batch for a graph exported with ``--input-size`` (which does
    channel order, resize and normalisation itself). A frame of another size is a UserError naming
    both sizes, unless ``resize_frames`` (then it is resized on the CPU, bilinearly: no longer the
    exact preprocessing; callers warn)."""
    width, height = frame_size
    if frame_bgr.shape[1] != width or frame_bgr.shape[0] != height:
        if not resize_frames:
            raise UserError("the frame is {}x{} but the graph takes {}x{} frames (exported with "
                            "--input-size {}x{}); export it with --input-size {}x{}, or pass "
                            "--resize-frames to resize on the CPU".format(
                                frame_bgr.shape[1], frame_bgr.shape[0], width, height, width, height,
                                frame_bgr.shape[1], frame_bgr.shape[0]))
        frame_bgr = _cv2().resize(frame_bgr, (width, height), interpolation=_cv2().INTER_LINEAR)
    if frame_bgr.dtype != np.dtype(dtype):
        frame_bgr = frame_bgr.astype(dtype)
    return np.ascontiguousarray(frame_bgr)[None]


def preprocess(frame_bgr, spec, size, layout="NCHW", fused_pre=False, frame_size=None, frame_dtype="float32",
               resize_frames=False):
    """One BGR uint8 frame -> a 1-image batch for the network (float32; with ``frame_size`` the raw
    frame, see frame_batch)."""
    if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        raise UserError("expected a 3-channel colour image")
    if frame_size:
        return frame_batch(frame_bgr, frame_size, frame_dtype, resize_frames)
    if fused_pre:
        pixels = resize_raw(frame_bgr, spec, size)
        return np.ascontiguousarray(pixels[None])  # NHWC, 0..255
    image = to_channel_order(frame_bgr, spec.channel_order)
    if spec.resize_first:
        image = resize(np.ascontiguousarray(image), size, spec.resize)
        tensor = normalize(image, spec)
    else:
        tensor = resize(normalize(image, spec, divide=False), size, spec.resize)
        if spec.divide != 1.0:
            tensor = tensor / np.float32(spec.divide)
    tensor = tensor.astype(np.float32)
    if layout == "NHWC":
        return np.ascontiguousarray(tensor[None])
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])
