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


def pil_bilinear_weights(in_size, out_size):
    """Tap indices and weights of PIL's antialiased bilinear (triangle) filter along one axis.

    Returns (index[out, taps], weight[out, taps]) so that out = sum(x[index] * weight).
    """
    scale = in_size / float(out_size)
    support = max(scale, 1.0)
    taps = int(np.ceil(support)) * 2 + 1
    centers = (np.arange(out_size) + 0.5) * scale
    first = np.floor(centers - support + 0.5).astype(np.int64)
    first = np.clip(first, 0, in_size)
    index = first[:, None] + np.arange(taps)[None, :]
    dist = (index + 0.5 - centers[:, None]) / support
    weight = np.clip(1.0 - np.abs(dist), 0.0, None)
    last = np.minimum(np.floor(centers + support + 0.5).astype(np.int64), in_size)
    weight[index >= last[:, None]] = 0.0
    weight /= weight.sum(axis=1, keepdims=True)
    index = np.clip(index, 0, in_size - 1)
    return index, weight


def resize_pil_bilinear(image, width, height):
    """PIL's Image.resize(..., BILINEAR) on a uint8 HxWxC array, in numpy (rounded back to uint8)."""
    src = image.astype(np.float64)
    if src.shape[1] != width:
        idx, wts = pil_bilinear_weights(src.shape[1], width)
        src = np.einsum("hwtc,wt->hwc", src[:, idx, :], wts)
        src = np.clip(np.floor(src + 0.5), 0, 255)
    if src.shape[0] != height:
        idx, wts = pil_bilinear_weights(src.shape[0], height)
        src = np.einsum("htwc,ht->hwc", src[idx, :, :], wts)
        src = np.clip(np.floor(src + 0.5), 0, 255)
    return src.astype(np.uint8)


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
    image = to_channel_order(frame_bgr, spec["channel_order"])
    if spec.get("resize_first", True):
        image = resize(np.ascontiguousarray(image), size, spec["resize"])
        return image.astype(np.float32)
    return resize(image.astype(np.float32), size, spec["resize"])


def normalize(pixels, spec, divide=True):
    """float HxWxC pixels -> normalised float32 HxWxC (scale, mean, std and, if asked, divide)."""
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    out = (pixels.astype(np.float32) * np.float32(spec.get("scale", 1.0)) - mean) / std
    if divide and spec.get("divide", 1.0) != 1.0:
        out = out / np.float32(spec["divide"])
    return out


def preprocess(frame_bgr, spec, size, layout="NCHW", fused_pre=False):
    """One BGR uint8 frame -> a 1-image batch for the network (float32)."""
    if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        raise UserError("expected a 3-channel colour image")
    if fused_pre:
        pixels = resize_raw(frame_bgr, spec, size)
        return np.ascontiguousarray(pixels[None])  # NHWC, 0..255
    image = to_channel_order(frame_bgr, spec["channel_order"])
    if spec.get("resize_first", True):
        image = resize(np.ascontiguousarray(image), size, spec["resize"])
        tensor = normalize(image, spec)
    else:
        tensor = resize(normalize(image, spec, divide=False), size, spec["resize"])
        if spec.get("divide", 1.0) != 1.0:
            tensor = tensor / np.float32(spec["divide"])
    tensor = tensor.astype(np.float32)
    if layout == "NHWC":
        return np.ascontiguousarray(tensor[None])
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])
