"""Graphs that start at the camera's raw frame and (optionally) end at the finished overlay.

``export --fuse-pre --input-size WxH``: the graph takes the frame as the source delivers it
(NHWC, BGR, 0..255; float32 for TensorRT 8.2, which has no UINT8 bindings, or uint8 where the
TensorRT version has them) and does the checkpoint's own preprocessing inside, with operators
TensorRT 8.2 parses:

- ESPNet (the authors normalise, then cv2-resize bilinearly, then divide): a bilinear resize's
  weights sum to one, so resize-then-normalise is the same affine map; ONNX ``Resize`` (linear,
  half_pixel) computes OpenCV INTER_LINEAR's taps (no antialiasing in either). When the frame is
  an integer multiple of the network size (2048x1024 -> 1024x512) each output reads a fixed block
  of source pixels, so one strided convolution over the frame seen as a [N, 1, H, W * 3] plane
  resizes, reorders the channels, normalises and writes NCHW: no full-size Transpose. Exactly
  twice the network size (2048x1024 -> 1024x512), OpenCV's own arithmetic instead, bit for bit
  (host/export/exact_halving.py): the folded convolution equals it only up to float rounding.
- ESPNetv2 (Pillow's antialiased bilinear on uint8, then /255 and ImageNet normalisation): a
  separable triangle filter whose taps and fixed-point weights are known for every output pixel
  (``preprocess.pil_bilinear_coefficients``), summed exactly in float32 and rounded as Pillow's
  integer shift does, in Pillow's pass order, pixel-identical to Pillow: strided convolutions at
  integer ratios (the first reading the frame's [N, 1, H, W * 3] plane, ``_PilPass.use_hwc_frame``),
  MatMuls at short-period ratios (host/export/pil_blocks.py), else a Gather per tap.

``--fuse-overlay``: the graph also draws the overlay over the frame (host/export/frame_overlay.py).
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge import defaults
from espnet_edge.host.export.exact_halving import ExactHalving
from espnet_edge.host.export.frame_overlay import FrameOverlay
from espnet_edge.host.export.pil_blocks import PilFrameBlocks
from espnet_edge.preprocess import (PIL_PRECISION_BITS, PIL_SPLIT_BITS, pil_bilinear_coefficients, pil_pass_exact,
                                    pil_vertical_first)


SPLIT_BITS = PIL_SPLIT_BITS  # each fixed-point coefficient = hi * 2**11 + lo, both < 2**11 + 1


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
    if not all(interior[first:last]) or offset > 0 or last - first < out_size // 2:
        return None  # (at a ratio that is not an integer a stride fits one output or two: not a convolution)
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
        self.hwc = False
        index, coeffs = pil_bilinear_coefficients(in_size, out_size)
        keep = [t for t in range(index.shape[1]) if coeffs[:, t].any()]
        hi, lo = _split(coeffs)
        self.exact = pil_pass_exact(in_size, out_size)
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

    def use_hwc_frame(self, perm):
        """Let this (horizontal, convolutional) pass read the raw [N, H, W, 3] frame itself: seen as
        one [N, 1, H, W * 3] plane, pixel x's channel c sits at 3x + c, so a kernel of 3K taps
        whose tap 3t + perm[o] carries coefficient t for output channel o, strided by 3 x stride,
        is the same per-channel filter and writes NCHW, in the channel order ``perm`` picks: the
        full-size Transpose is gone. The borders (Pillow's renormalised taps) come from the few
        source columns they read (``strip_columns``), gathered from the frame."""
        assert self.axis == 3 and self.conv is not None
        self.hwc = True
        for key in ("k", "k_hi", "k_lo"):
            if hasattr(self, key):
                kernel = getattr(self, key)[0].reshape(-1)
                wide = torch.zeros((3, 1, 1, 3 * kernel.numel()), dtype=torch.float32)
                for o in range(3):
                    wide[o, 0, 0, perm[o]::3] = kernel
                setattr(self, key, wide)  # a buffer: reassigning keeps it registered
        if self.gathered:
            used = sorted(set(getattr(self, name + "index")[i].item() for name in self.taps
                              for i in range(len(self.gathered))))
            self.register_buffer("strip_columns", torch.tensor(used, dtype=torch.int64))
            position = dict((column, i) for i, column in enumerate(used))
            for name in self.taps:
                local = [position[c] for c in getattr(self, name + "index").tolist()]
                self.register_buffer(name + "local", torch.tensor(local, dtype=torch.int64))

    def _gather(self, x, index="index"):
        s_hi = s_lo = None
        for name in self.taps:
            taken = torch.index_select(x, self.axis, getattr(self, name + index))
            hi, lo = taken * getattr(self, name + "hi"), taken * getattr(self, name + "lo")
            s_hi = hi if s_hi is None else s_hi + hi
            s_lo = lo if s_lo is None else s_lo + lo
        if self.exact:
            return _exact_round(s_hi, s_lo)
        unit = float(1 << SPLIT_BITS)
        return torch.floor((s_hi * unit + s_lo) / float(1 << PIL_PRECISION_BITS) + 0.5)

    def _convolve(self, x):
        c = self.conv
        if self.hwc:  # x: [N, 1, H, W * 3]
            return self._convolve_plane(x)
        stride, padding = c["stride"], c["padding"]
        if c["dyadic"]:
            return torch.floor(F.conv2d(x, self.k, self.k_bias, stride=stride, padding=padding, groups=3))
        s_hi = F.conv2d(x, self.k_hi, stride=stride, padding=padding, groups=3)
        s_lo = F.conv2d(x, self.k_lo, stride=stride, padding=padding, groups=3)
        return _exact_round(s_hi, s_lo)

    def _convolve_plane(self, x):
        """The horizontal pass over the [N, 1, H, W * 3] plane, as a 3-D convolution over
        [N, 1, 1, H, W * 3]: the same sums, but ONNX Runtime keeps a 3-D convolution's output NCHW,
        where it would write a 2-D one with a single input channel in its blocked NCHWc layout
        (3 channels padded to 16) and reorder it back, which costs more than the convolution."""
        c = self.conv
        stride, padding = (1, 1, 3 * c["stride"][1]), (0, 0, 3 * c["padding"][1])
        x = x.unsqueeze(2)
        if c["dyadic"]:
            out = torch.floor(F.conv3d(x, self.k.unsqueeze(2), self.k_bias, stride=stride, padding=padding))
        else:
            s_hi = F.conv3d(x, self.k_hi.unsqueeze(2), stride=stride, padding=padding)
            s_lo = F.conv3d(x, self.k_lo.unsqueeze(2), stride=stride, padding=padding)
            out = _exact_round(s_hi, s_lo)
        return out.squeeze(2)

    def interior(self, x):
        """The convolution's outputs with every column computed (the borders wrong: zero-padded
        instead of Pillow's renormalised taps) when the convolution yields exactly ``out`` of them;
        else only the interior ones. -> (tensor, index of its first output)."""
        c = self.conv
        inner = self._convolve(x)
        if inner.shape[self.axis] == c["out"]:
            return inner, 0
        return inner.narrow(self.axis, c["first"], c["last"] - c["first"]), c["first"]

    def border(self, strip):
        """The border outputs, in order, from the source columns ``strip_columns`` (NCHW)."""
        return self._gather(strip, "local")

    def assemble(self, inner, start, border):
        """Interior outputs (from ``start``) and border outputs -> all ``out`` outputs along the axis."""
        c = self.conv
        left = c["first"]
        parts = []
        if left:
            parts.append(border.narrow(self.axis, 0, left))
        if left - start or inner.shape[self.axis] != c["last"] - c["first"]:
            inner = inner.narrow(self.axis, left - start, c["last"] - c["first"])  # a copy in ONNX Runtime
        parts.append(inner)
        if c["out"] - c["last"]:
            parts.append(border.narrow(self.axis, left, c["out"] - c["last"]))
        return torch.cat(parts, dim=self.axis)

    def forward(self, x):
        if self.conv is None:
            return self._gather(x)
        inner, start = self.interior(x)
        if not self.gathered:
            return inner
        return self.assemble(inner, start, self._gather(x))


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
        self.frame_size = tuple(frame_size)
        self.passes = nn.ModuleList([_PilPass(axis, n_in, n_out) for axis, n_in, n_out in order if n_in != n_out])
        self.exact = all(p.exact for p in self.passes)
        self.hwc = False

    def read_hwc_frames(self, perm):
        """Take [N, H, W, 3] frames in ``forward_frame`` when the first pass is a horizontal
        convolution (every integer ratio, in Pillow's horizontal-first order): no full-size
        Transpose; the output channels come in the order ``perm`` picks. -> whether it does."""
        if not self.passes or self.passes[0].axis != 3 or self.passes[0].conv is None:
            return False
        self.passes[0].use_hwc_frame(perm)
        self.register_buffer("perm", torch.tensor(list(perm), dtype=torch.int64))
        self.hwc = True
        return True

    def forward_frame(self, frame):
        """[N, H, W, 3] float frames -> NCHW, channels in ``perm`` order (after read_hwc_frames)."""
        width, height = self.frame_size
        first = self.passes[0]
        inner, start = first.interior(frame.reshape(-1, 1, height, width * 3))
        strip = None
        if first.gathered:
            strip = torch.index_select(torch.index_select(frame, 2, first.strip_columns), 3, self.perm)
            strip = first.border(strip.permute(0, 3, 1, 2))
        for one in self.passes[1:]:  # vertical: columns stay apart, the border ones are mended last
            inner = one(inner)
            strip = one(strip) if strip is not None else None
        if strip is None:  # no border outputs: the convolution computed all of them
            return inner
        return first.assemble(inner, start, strip)

    def forward(self, x):
        for one in self.passes:
            x = one(x)
        return x


def _linear_taps(factor):
    """Taps of ONNX Resize (linear, half_pixel) = OpenCV INTER_LINEAR along an axis shrunk by an
    integer ``factor``: output i samples (i + 0.5) * f - 0.5 = f*i + (f - 1)/2, the middle of its
    block of f source pixels: one pixel (weight 1) for odd f, the middle two (0.5 each) for even f."""
    taps = np.zeros(factor, dtype=np.float64)
    if factor % 2:
        taps[factor // 2] = 1.0
    else:
        taps[factor // 2 - 1:factor // 2 + 1] = 0.5
    return taps


def _block_resize(frame_size, size):
    """-> (2-D taps [fy, fx], (fx, fy)) when the frame is an integer multiple of the network size on
    both axes (2048x1024 -> 1024x512: fx = fy = 2), else None (then ONNX Resize does it)."""
    (frame_w, frame_h), (width, height) = frame_size, size
    if frame_w % width or frame_h % height:
        return None
    fx, fy = frame_w // width, frame_h // height
    return np.outer(_linear_taps(fy), _linear_taps(fx)), (fx, fy)


def _interleaved_kernel(taps, perm, gain):
    """Conv weight [3, 1, fy, 3 * fx] over a [N, 1, H, W * 3] view of HWC frames: output channel o
    takes source channel perm[o] (pixel x's channel c sits at 3x + c) times gain[o]; strided by
    (fy, 3 fx) it resizes, reorders channels and transposes to NCHW in one pass."""
    fy, fx = taps.shape
    weight = np.zeros((3, 1, fy, 3 * fx), dtype=np.float64)
    for o in range(3):
        weight[o, 0, :, perm[o]::3] = taps * gain[o]
    return torch.from_numpy(weight.astype(np.float32))


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
        gain, offset = spec.affine()
        self.register_buffer("gain", torch.tensor(gain, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).view(1, 3, 1, 1))
        # resize-first checkpoints (ESPNetv2): preprocess.normalize's float32 operations, in its order
        self.exact_norm = spec.resize_first
        self.register_buffer("scale", torch.tensor(spec.scale, dtype=torch.float32))
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("divide", torch.tensor(spec.divide, dtype=torch.float32))
        self.divides = spec.divide != 1.0
        perm = (2, 1, 0) if self.flip else (0, 1, 2)
        self.pil = PilBilinear(frame_size, size) if self.method == "pil_bilinear" else None
        self.pil_hwc = self.pil is not None and self.pil.read_hwc_frames(perm)
        self.pil_blocks = None  # other ratios: MatMuls over blocks and gathered rows (host/export/pil_blocks.py)
        if self.pil is not None and not self.pil_hwc and self.pil.exact and PilFrameBlocks.applicable(frame_size, size):
            self.pil_blocks = PilFrameBlocks(frame_size, size, perm)
        self.block = _block_resize(frame_size, size) if self.method == "cv2_bilinear" else None
        self.halving = self.block is not None and self.block[1] == (2, 2) and not spec.resize_first
        if self.halving:
            self.halve = ExactHalving(spec, frame_size[0], perm)
        elif self.block is not None:
            taps, stride = self.block
            self.register_buffer("block_weight", _interleaved_kernel(taps, perm, gain))
            self.register_buffer("block_bias", torch.tensor(offset, dtype=torch.float32))

    def forward(self, frame):
        width, height = self.size
        if self.halving:
            return self.halve(frame)
        if self.block is not None:
            frame_w, frame_h = self.frame_size
            plane = frame.float().reshape(-1, 1, frame_h, frame_w * 3)
            stride = self.block[1]
            return F.conv2d(plane, self.block_weight, self.block_bias, stride=(stride[1], 3 * stride[0]))
        if self.pil_hwc:
            return self._normalise(self.pil.forward_frame(frame.float()))
        if self.pil_blocks is not None:
            return self._normalise(self.pil_blocks(frame.float()))
        x = frame.float().permute(0, 3, 1, 2)  # TensorRT 10 transposes no UINT8 (its matrix)
        if self.pil is not None:
            x = self.pil(x)
        elif self.frame_size != self.size:
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        if self.flip:
            x = torch.index_select(x, 1, self.bgr_to_rgb)
        return self._normalise(x)

    def _normalise(self, x):
        """Resized NCHW pixels -> network input: the CPU path's own operations where it normalises after
        resizing (bit-identical), else x * gain + offset (it normalises first: equal to float rounding)."""
        if not self.exact_norm:
            return x * self.gain + self.offset
        x = (x * self.scale - self.mean) / self.std
        return x / self.divide if self.divides else x


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
