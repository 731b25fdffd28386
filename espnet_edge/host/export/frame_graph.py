"""Graphs that start at the camera's raw frame and (optionally) end at the finished overlay.

``export --fuse-pre --input-size WxH``: the graph takes the frame as the source delivers it
(NHWC, BGR, 0..255; float32 for TensorRT 8.2, which has no UINT8 bindings, or uint8 where the
TensorRT version has them) and does the checkpoint's own preprocessing inside, with operators
TensorRT 8.2 parses:

- ESPNet (the authors normalise, then cv2-resize bilinearly, then divide): a bilinear resize's
  weights sum to one, so resize-then-normalise is the same affine map; ONNX ``Resize`` (linear,
  half_pixel) computes OpenCV INTER_LINEAR's taps (no antialiasing in either).
- ESPNetv2 (Pillow's antialiased bilinear on uint8, then /255 and ImageNet normalisation): a
  separable triangle filter whose taps and fixed-point weights are known for every output pixel
  (``espnet_edge.preprocess.pil_bilinear_coefficients``). Each pass is a sum over the few taps of
  Gather(rows or columns) x weight, then Pillow's rounding ``floor(x + 0.5)`` clipped to 0..255, in
  Pillow's pass order. Works for every ratio, integer or not.

``--fuse-overlay``: the graph also resizes the class map to the frame (nearest, as
``Segmenter.resize_mask``), colours it with the palette and alpha-blends it over the frame
(``visualize.overlay``'s arithmetic); its single output is [N, H, W, 4]: BGR overlay + class index.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.preprocess import PIL_PRECISION_BITS, pil_bilinear_coefficients, pil_vertical_first


def _pil_taps(in_size, out_size):
    """-> [(index LongTensor[out], weight FloatTensor[out])] for the taps with any non-zero weight."""
    index, coeffs = pil_bilinear_coefficients(in_size, out_size)
    weights = coeffs.astype(np.float64) / float(1 << PIL_PRECISION_BITS)  # exact in float32 (<= 23 bits)
    return [(torch.from_numpy(index[:, t].astype(np.int64)), torch.from_numpy(weights[:, t].astype(np.float32)))
            for t in range(index.shape[1]) if coeffs[:, t].any()]


class PilBilinearNHWC(nn.Module):
    """Pillow's Image.resize(BILINEAR) of NHWC float pixels (integers 0..255), pass by pass."""

    def __init__(self, frame_size, size):
        super().__init__()
        (in_w, in_h), (out_w, out_h) = frame_size, size
        passes = [(2, in_w, out_w), (1, in_h, out_h)]
        if pil_vertical_first(in_w, in_h, out_w, out_h):
            passes = passes[::-1]
        self.passes = []
        for number, (axis, n_in, n_out) in enumerate(passes):
            if n_in == n_out:
                continue
            taps = []
            for t, (index, weight) in enumerate(_pil_taps(n_in, n_out)):
                shape = [1, 1, 1, 1]
                shape[axis] = n_out
                self.register_buffer("i{}_{}".format(number, t), index)
                self.register_buffer("w{}_{}".format(number, t), weight.view(shape))
                taps.append(("i{}_{}".format(number, t), "w{}_{}".format(number, t)))
            self.passes.append((axis, taps))

    def forward(self, x):
        for axis, taps in self.passes:
            acc = None
            for index_name, weight_name in taps:
                term = torch.index_select(x, axis, getattr(self, index_name)) * getattr(self, weight_name)
                acc = term if acc is None else acc + term
            x = torch.clamp(torch.floor(acc + 0.5), 0.0, 255.0)
        return x


def _affine(spec):
    """``(x * scale - mean) / std / divide`` as one per-channel (gain, offset), float64."""
    std = np.asarray(spec["std"], dtype=np.float64)
    mean = np.asarray(spec["mean"], dtype=np.float64)
    divide = float(spec.get("divide", 1.0))
    return float(spec.get("scale", 1.0)) / (std * divide), -mean / (std * divide)


class FramePreprocess(nn.Module):
    """Raw BGR frame [N, H, W, 3] (0..255) at ``frame_size`` -> the network's normalised NCHW input."""

    def __init__(self, spec, frame_size, size):
        super().__init__()
        self.frame_size = tuple(frame_size)
        self.size = tuple(size)
        self.method = spec["resize"]
        if self.method not in ("cv2_bilinear", "pil_bilinear"):
            raise ValueError("no in-graph equivalent for resize method {!r}".format(self.method))
        self.flip = spec["channel_order"] == "RGB"
        self.register_buffer("bgr_to_rgb", torch.tensor([2, 1, 0], dtype=torch.int64))
        gain, offset = _affine(spec)
        self.register_buffer("gain", torch.tensor(gain, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).view(1, 3, 1, 1))
        self.pil = PilBilinearNHWC(frame_size, size) if self.method == "pil_bilinear" else None

    def forward(self, frame):
        x = frame.float()
        width, height = self.size
        if self.pil is not None:
            x = self.pil(x).permute(0, 3, 1, 2)
        else:
            x = x.permute(0, 3, 1, 2)
            if self.frame_size != self.size:
                x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        if self.flip:
            x = torch.index_select(x, 1, self.bgr_to_rgb)
        return x * self.gain + self.offset


class FrameOverlay(nn.Module):
    """Logits [N, C, h, w] + the raw frame -> [N, H, W, 4]: BGR overlay (palette blended with
    ``alpha``) and the class index, at the frame size."""

    def __init__(self, palette, frame_size, alpha):
        super().__init__()
        self.frame_size = tuple(frame_size)
        self.alpha = float(alpha)
        bgr = np.asarray(palette, dtype=np.float32)[:, ::-1] * np.float32(alpha)
        self.register_buffer("colours", torch.from_numpy(np.ascontiguousarray(bgr)))

    def forward(self, logits, frame):
        width, height = self.frame_size
        classes = torch.argmax(logits, dim=1, keepdim=True).float()
        if tuple(classes.shape[-2:]) != (height, width):
            classes = F.interpolate(classes, size=(height, width), mode="nearest")
        index = classes[:, 0].to(torch.int32)
        colours = self.colours[index.long()]  # [N, H, W, 3]
        blended = frame.float() * (1.0 - self.alpha) + colours
        overlay = torch.clamp(torch.floor(blended + 0.5), 0.0, 255.0)
        return torch.cat([overlay, classes.permute(0, 2, 3, 1)], dim=3)


class FrameGraph(nn.Module):
    """Frame in; logits, a class map or the finished overlay out."""

    def __init__(self, net, spec, frame_size, size, palette=None, fuse_post=False, overlay_alpha=None,
                 frame_dtype="float32"):
        super().__init__()
        self.pre = FramePreprocess(spec, frame_size, size)
        self.net = net
        self.fuse_post = fuse_post
        self.overlay = FrameOverlay(palette, frame_size, overlay_alpha) if overlay_alpha is not None else None
        self.uint8 = frame_dtype == "uint8"

    def forward(self, frame):
        logits = self.net(self.pre(frame))
        if self.overlay is not None:
            out = self.overlay(logits, frame)
            return out.to(torch.uint8) if self.uint8 else out
        if self.fuse_post:
            return torch.argmax(logits, dim=1).to(torch.int32)
        return logits
