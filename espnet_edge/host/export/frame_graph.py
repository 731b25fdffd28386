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
  Gather(rows or columns) x Pillow's own fixed-point coefficient, summed exactly in float32 and
  rounded as Pillow's integer shift does, clipped to 0..255, in Pillow's pass order. Works for every
  ratio, integer or not; pixel-identical to Pillow.

``--fuse-overlay``: the graph also resizes the class map to the frame (nearest, as
``Segmenter.resize_mask``), colours it with the palette and alpha-blends it over the frame
(``visualize.overlay``'s arithmetic); its single output is [N, H, W, 4]: BGR overlay + class index.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.preprocess import PIL_PRECISION_BITS, pil_bilinear_coefficients, pil_vertical_first


SPLIT_BITS = 11  # each fixed-point coefficient = hi * 2**11 + lo, both < 2**11 + 1
_EXACT_LIMIT = float(1 << 24)  # float32 holds every integer below this exactly


def _pil_taps(in_size, out_size):
    """-> [(index[out], hi[out], lo[out])] for the taps with any non-zero coefficient, plus whether
    the split sums stay exact in float32 (see PilBilinearNHWC)."""
    index, coeffs = pil_bilinear_coefficients(in_size, out_size)
    keep = [t for t in range(index.shape[1]) if coeffs[:, t].any()]
    hi, lo = coeffs >> SPLIT_BITS, coeffs & ((1 << SPLIT_BITS) - 1)
    worst = 255.0 * lo[:, keep].sum(axis=1).max() + (1 << (PIL_PRECISION_BITS - 1)) + (1 << PIL_PRECISION_BITS)
    taps = [(torch.from_numpy(index[:, t].astype(np.int64)), torch.from_numpy(hi[:, t].astype(np.float32)),
             torch.from_numpy(lo[:, t].astype(np.float32))) for t in keep]
    return taps, worst < _EXACT_LIMIT


class PilBilinearNHWC(nn.Module):
    """Pillow's Image.resize(BILINEAR) of NHWC float pixels (integers 0..255), pass by pass.

    Pillow computes ``(sum(x * c) + 2**21) >> 22`` in int32 with 22-bit coefficients ``c``; plain
    float32 sums are off by a grey level wherever that lands near a rounding tie (1% of pixels on
    some ratios). So each coefficient is split, c = hi * 2**11 + lo: both partial sums are integers
    below 2**24, exact in float32, and the shift is done as exact float steps
    (a1 = floor(S_hi / 2**11), a0 = S_hi - a1 * 2**11, out = a1 + floor((a0 * 2**11 + S_lo + 2**21) / 2**22)).
    Downscales beyond ~8x per axis would overflow that bound; they fall back to float weights."""

    def __init__(self, frame_size, size):
        super().__init__()
        (in_w, in_h), (out_w, out_h) = frame_size, size
        passes = [(2, in_w, out_w), (1, in_h, out_h)]
        if pil_vertical_first(in_w, in_h, out_w, out_h):
            passes = passes[::-1]
        self.passes = []
        self.exact = True
        for number, (axis, n_in, n_out) in enumerate(passes):
            if n_in == n_out:
                continue
            shape = [1, 1, 1, 1]
            shape[axis] = n_out
            found, exact = _pil_taps(n_in, n_out)
            self.exact = self.exact and exact
            names = []
            for t, (index, hi, lo) in enumerate(found):
                name = "p{}_t{}_".format(number, t)
                self.register_buffer(name + "index", index)
                self.register_buffer(name + "hi", hi.view(shape))
                self.register_buffer(name + "lo", lo.view(shape))
                names.append(name)
            self.passes.append((axis, names, exact))

    def forward(self, x):
        unit = float(1 << SPLIT_BITS)
        for axis, names, exact in self.passes:
            s_hi = s_lo = None
            for name in names:
                taken = torch.index_select(x, axis, getattr(self, name + "index"))
                hi, lo = taken * getattr(self, name + "hi"), taken * getattr(self, name + "lo")
                s_hi = hi if s_hi is None else s_hi + hi
                s_lo = lo if s_lo is None else s_lo + lo
            if exact:
                a1 = torch.floor(s_hi / unit)
                rest = (s_hi - a1 * unit) * unit + s_lo + float(1 << (PIL_PRECISION_BITS - 1))
                out = a1 + torch.floor(rest / float(1 << PIL_PRECISION_BITS))
            else:
                out = torch.floor((s_hi * unit + s_lo) / float(1 << PIL_PRECISION_BITS) + 0.5)
            x = torch.clamp(out, 0.0, 255.0)
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


def preprocess_onnx(spec, frame_size, size, opset=13):
    """The in-graph preprocessing alone as an ONNX model (float32 frame in, normalised NCHW out), for
    checking it against the CPU path frame by frame without exporting a network per frame size."""
    import io
    import warnings

    import onnx

    from espnet_edge.host.export.graph_passes import clean

    module = FramePreprocess(spec, frame_size, size).eval()
    dummy = torch.zeros((1, frame_size[1], frame_size[0], 3), dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (dummy,), buffer, opset_version=opset, input_names=["input"],
                          output_names=["normalised"], do_constant_folding=True, dynamo=False)
    model, _ = clean(onnx.load_from_string(buffer.getvalue()))
    return model
