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
(``visualize.overlay``'s arithmetic); its single output is [N, H + R, W, 3]: the BGR overlay, then R
rows holding the network-size class map (``class_rows``), so the host splits it without copying.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge import defaults
from espnet_edge.preprocess import PIL_PRECISION_BITS, pil_bilinear_coefficients, pil_vertical_first


SPLIT_BITS = 11  # each fixed-point coefficient = hi * 2**11 + lo, both < 2**11 + 1
_EXACT_LIMIT = float(1 << 24)  # float32 holds every integer below this exactly


def _split(coeffs):
    return coeffs >> SPLIT_BITS, coeffs & ((1 << SPLIT_BITS) - 1)


def _conv_plan(index, coeffs):
    """Where Pillow's taps repeat with a fixed stride (integer ratios): -> (stride, pad, kernel
    coefficients [K], first, last) so that outputs first..last-1 are a strided convolution;
    the outputs outside (the borders, where Pillow renormalises the cut-off filter) are gathered.
    None when the taps do not repeat."""
    out_size = index.shape[0]
    if out_size < 4:
        return None
    rows = []
    for i in range(out_size):
        nonzero = np.nonzero(coeffs[i])[0]
        if not len(nonzero):
            return None
        taps = index[i, nonzero[0]:nonzero[-1] + 1]
        if np.any(np.diff(taps) != 1):
            return None
        rows.append((int(taps[0]), tuple(coeffs[i, nonzero[0]:nonzero[-1] + 1].tolist())))
    middle = out_size // 2
    stride = rows[middle + 1][0] - rows[middle][0]
    if stride < 1:
        return None
    offset = rows[middle][0] - stride * middle
    kernel = rows[middle][1]
    interior = [rows[i][1] == kernel and rows[i][0] == offset + stride * i for i in range(out_size)]
    first = interior.index(True)
    last = out_size - interior[::-1].index(True)
    if not all(interior[first:last]) or offset > 0:
        return None
    return stride, -offset, np.asarray(kernel, dtype=np.int64), first, last


def _dyadic(kernel):
    """True when x * c / 2**22 for x in 0..255 and every partial sum fit float32's 24 bits exactly:
    the coefficients share at least 6 trailing zero bits (8 bits of pixel + 16 of fraction)."""
    zeros = min(int(np.log2(c & -c)) for c in kernel.tolist() if c)
    return 8 + (PIL_PRECISION_BITS - zeros) <= 24


def _exact_round(s_hi, s_lo):
    """floor((s_hi * 2**11 + s_lo + 2**21) / 2**22) in exact float32 steps (both sums integers < 2**24)."""
    unit = float(1 << SPLIT_BITS)
    a1 = torch.floor(s_hi / unit)
    rest = (s_hi - a1 * unit) * unit + s_lo + float(1 << (PIL_PRECISION_BITS - 1))
    return a1 + torch.floor(rest / float(1 << PIL_PRECISION_BITS))


class _PilPass(nn.Module):
    """One separable pass of Pillow's bilinear filter along ``axis`` (2: rows/H, 3: columns/W) of NCHW."""

    def __init__(self, axis, in_size, out_size):
        super().__init__()
        self.axis = axis
        index, coeffs = pil_bilinear_coefficients(in_size, out_size)
        keep = [t for t in range(index.shape[1]) if coeffs[:, t].any()]
        hi, lo = _split(coeffs)
        worst = 255.0 * lo[:, keep].sum(axis=1).max() + 3 * (1 << (PIL_PRECISION_BITS - 1))
        self.exact = worst < _EXACT_LIMIT
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        plan = _conv_plan(index, coeffs) if self.exact else None
        self.conv = None
        rows = range(out_size)
        if plan is not None:
            stride, pad, kernel, first, last = plan
            kshape = (3, 1, 1, len(kernel)) if axis == 3 else (3, 1, len(kernel), 1)
            self.conv = {"stride": (1, stride) if axis == 3 else (stride, 1),
                         "padding": (0, pad) if axis == 3 else (pad, 0), "first": first, "last": last,
                         "out": out_size, "dyadic": _dyadic(kernel)}
            if self.conv["dyadic"]:
                # power-of-two ratios: every product and partial sum is a multiple of 2**-16 below 256,
                # exact in float32, so one convolution (Pillow's +2**21 as its bias) and a floor are exact
                weight = kernel.astype(np.float64) / float(1 << PIL_PRECISION_BITS)
                self.register_buffer("k", torch.from_numpy(np.tile(weight.astype(np.float32), (3, 1))).view(kshape))
                self.register_buffer("k_bias", torch.full((3,), 0.5, dtype=torch.float32))
            else:
                k_hi, k_lo = _split(kernel)
                self.register_buffer("k_hi", torch.from_numpy(np.tile(k_hi.astype(np.float32), (3, 1))).view(kshape))
                self.register_buffer("k_lo", torch.from_numpy(np.tile(k_lo.astype(np.float32), (3, 1))).view(kshape))
            rows = [i for i in range(out_size) if i < first or i >= last]
        self.gathered = list(rows)
        self.taps = []
        if self.gathered:
            sub_index, sub_hi, sub_lo = index[self.gathered], hi[self.gathered], lo[self.gathered]
            for t in keep:
                name = "t{}_".format(t)
                self.register_buffer(name + "index", torch.from_numpy(sub_index[:, t].astype(np.int64)))
                self.register_buffer(name + "hi", torch.from_numpy(sub_hi[:, t].astype(np.float32)).view(shape))
                self.register_buffer(name + "lo", torch.from_numpy(sub_lo[:, t].astype(np.float32)).view(shape))
                self.taps.append(name)

    def _gather(self, x):
        s_hi = s_lo = None
        for name in self.taps:
            taken = torch.index_select(x, self.axis, getattr(self, name + "index"))
            hi, lo = taken * getattr(self, name + "hi"), taken * getattr(self, name + "lo")
            s_hi = hi if s_hi is None else s_hi + hi
            s_lo = lo if s_lo is None else s_lo + lo
        if self.exact:
            return _exact_round(s_hi, s_lo)
        unit = float(1 << SPLIT_BITS)
        return torch.floor((s_hi * unit + s_lo) / float(1 << PIL_PRECISION_BITS) + 0.5)

    def forward(self, x):
        if self.conv is None:
            return self._gather(x)
        c = self.conv
        if c["dyadic"]:
            inner = torch.floor(F.conv2d(x, self.k, self.k_bias, stride=c["stride"], padding=c["padding"], groups=3))
        else:
            s_hi = F.conv2d(x, self.k_hi, stride=c["stride"], padding=c["padding"], groups=3)
            s_lo = F.conv2d(x, self.k_lo, stride=c["stride"], padding=c["padding"], groups=3)
            inner = _exact_round(s_hi, s_lo)
        inner = inner.narrow(self.axis, c["first"], c["last"] - c["first"])
        if not self.gathered:
            return inner
        border = self._gather(x)
        left = c["first"]
        parts = []
        if left:
            parts.append(border.narrow(self.axis, 0, left))
        parts.append(inner)
        if c["out"] - c["last"]:
            parts.append(border.narrow(self.axis, left, c["out"] - c["last"]))
        return torch.cat(parts, dim=self.axis)


class PilBilinear(nn.Module):
    """Pillow's Image.resize(BILINEAR) of NCHW float pixels (integers 0..255), pixel-identical.

    Pillow computes ``(sum(x * c) + 2**21) >> 22`` in int32 with 22-bit coefficients ``c``; plain
    float32 sums are off by a grey level wherever that lands near a rounding tie (1% of pixels on
    some ratios). So each coefficient is split, c = hi * 2**11 + lo: both partial sums are integers
    below 2**24, exact in float32 in any summation order, and the shift is done as exact float steps
    (a1 = floor(S_hi / 2**11), a0 = S_hi - a1 * 2**11, out = a1 + floor((a0 * 2**11 + S_lo + 2**21) / 2**22)).
    Where the taps repeat with a fixed stride (integer ratios: 2048 -> 1024 is a 4-tap, stride-2
    filter) the sums are depthwise strided convolutions and only the border outputs (where Pillow
    renormalises the cut-off filter) are gathered; other ratios gather every tap. Downscales beyond
    ~8x per axis would overflow the exact bound; they fall back to float weights (not exact)."""

    def __init__(self, frame_size, size):
        super().__init__()
        (in_w, in_h), (out_w, out_h) = frame_size, size
        order = [(3, in_w, out_w), (2, in_h, out_h)]
        if pil_vertical_first(in_w, in_h, out_w, out_h):
            order = order[::-1]
        self.passes = nn.ModuleList([_PilPass(axis, n_in, n_out) for axis, n_in, n_out in order if n_in != n_out])
        self.exact = all(p.exact for p in self.passes)

    def forward(self, x):
        for one in self.passes:
            x = one(x)
        return x


def _affine(spec):
    """``(x * scale - mean) / std / divide`` as one per-channel (gain, offset), float64."""
    std = np.asarray(spec.std, dtype=np.float64)
    mean = np.asarray(spec.mean, dtype=np.float64)
    divide = float(spec.divide)
    return float(spec.scale) / (std * divide), -mean / (std * divide)


class FramePreprocess(nn.Module):
    """Raw BGR frame [N, H, W, 3] (0..255) at ``frame_size`` -> the network's normalised NCHW input."""

    def __init__(self, spec, frame_size, size):
        super().__init__()
        self.frame_size = tuple(frame_size)
        self.size = tuple(size)
        self.method = spec.resize
        if self.method not in ("cv2_bilinear", "pil_bilinear"):
            raise ValueError("no in-graph equivalent for resize method {!r}".format(self.method))
        self.flip = spec.channel_order == "RGB"
        self.register_buffer("bgr_to_rgb", torch.tensor([2, 1, 0], dtype=torch.int64))
        gain, offset = _affine(spec)
        self.register_buffer("gain", torch.tensor(gain, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).view(1, 3, 1, 1))
        self.pil = PilBilinear(frame_size, size) if self.method == "pil_bilinear" else None

    def forward(self, frame):
        width, height = self.size
        x = frame.float().permute(0, 3, 1, 2)  # TensorRT 10 transposes no UINT8 (its matrix)
        if self.pil is not None:
            x = self.pil(x)
        elif self.frame_size != self.size:
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        if self.flip:
            x = torch.index_select(x, 1, self.bgr_to_rgb)
        return x * self.gain + self.offset


def class_rows(frame_size, size):
    """Rows appended below the overlay that hold the network-size class map: ceil(h*w / (W*3))."""
    return -(-size[0] * size[1] // (frame_size[0] * 3))


class FrameOverlay(nn.Module):
    """Logits [N, C, h, w] + the raw frame -> [N, H + R, W, 3]: rows 0..H-1 the BGR overlay (palette
    blended with ``alpha``, rounded half up as visualize.overlay does), then R = class_rows() rows
    holding the class map at the network size, flattened. The host takes the overlay as a view
    (no copy for uint8) and the class map for the legend from the same buffer."""

    def __init__(self, palette, frame_size, size, alpha, truncating_cast=False):
        super().__init__()
        self.frame_size = tuple(frame_size)
        self.size = tuple(size)
        self.alpha = float(alpha)
        self.floor = not truncating_cast  # a Cast to uint8 truncates: the floor is implied
        self.rows = class_rows(frame_size, size)
        # alpha * colour + 0.5 (the rounding) folded into the table; a convex blend of 0..255 values
        # stays in 0..255, so no clip is needed
        bgr = np.asarray(palette, dtype=np.float32)[:, ::-1] * np.float32(alpha) + np.float32(0.5)
        self.register_buffer("colours", torch.from_numpy(np.ascontiguousarray(bgr)))

    def forward(self, logits, frame):
        width, height = self.frame_size
        classes = torch.argmax(logits, dim=1, keepdim=True).float()  # [N, 1, h, w]
        full = classes
        if tuple(classes.shape[-2:]) != (height, width):
            full = F.interpolate(classes, size=(height, width), mode="nearest")
        colours = self.colours[full[:, 0].long()]  # [N, H, W, 3]
        overlay = frame * (1.0 - self.alpha) + colours
        if self.floor:
            overlay = torch.floor(overlay)
        count = self.size[0] * self.size[1]
        flat = F.pad(classes.reshape(-1, count), (0, self.rows * width * 3 - count))
        return torch.cat([overlay, flat.reshape(-1, self.rows, width, 3)], dim=1)


class FrameGraph(nn.Module):
    """Frame in; logits, a class map or the finished overlay out."""

    def __init__(self, net, spec, frame_size, size, palette=None, fuse_post=False, overlay_alpha=None,
                 frame_dtype="float32"):
        super().__init__()
        self.pre = FramePreprocess(spec, frame_size, size)
        self.net = net
        self.fuse_post = fuse_post
        self.uint8 = frame_dtype == "uint8"
        self.overlay = FrameOverlay(palette, frame_size, size, overlay_alpha, truncating_cast=self.uint8) \
            if overlay_alpha is not None else None

    def forward(self, frame):
        frame = frame.float()  # one Cast for both uses (a no-op for float32 frames)
        logits = self.net(self.pre(frame))
        if self.overlay is not None:
            out = self.overlay(logits, frame)
            return out.to(torch.uint8) if self.uint8 else out
        if self.fuse_post:
            return torch.argmax(logits, dim=1).to(torch.int32)
        return logits


def preprocess_onnx(spec, frame_size, size, opset=defaults.ONNX_OPSET):
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
