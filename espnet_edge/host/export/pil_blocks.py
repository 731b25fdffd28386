"""Pillow's exact bilinear resize of HWC frames at ratios that are not integers (1280x720 -> 1024x512),
as MatMuls instead of one Gather per tap.

Where the frame is an integer multiple of the network size, frame_graph.py resizes with strided
convolutions. At other ratios it gathered every tap of every output, 5x the cost of the convolutions
per output (a third of ESPNetv2's network time for 1280x720 frames on a 2-core CPU). Here:

- the **horizontal** pass, where the ratio W/w = S/P in lowest terms has a short period (S <= 16:
  1280 -> 1024 is 5/4, 1920 -> 1024 is 15/8, 640 -> 1024 is 5/8), is one MatMul over blocks: every
  block of S frame pixels, with the few pixels of its neighbours its filters reach, gives its P
  outputs through one [K*3 + 1, P*3] matrix of Pillow's own fixed-point coefficients (per channel);
  the outputs at the image borders, where Pillow renormalises the cut-off filter, are gathered;
- the **vertical** pass, at any ratio, gathers the rows each output reads (whole rows: plain copies)
  and combines them with its own coefficients in one batched MatMul.

Exact, as Pillow's integer arithmetic: each coefficient c = hi * 2**11 + lo; the MatMuls give
2**11 * sum(x * hi) and sum(x * lo), integers below 2**31 and 2**24 whose partial sums float32
holds exactly in any order; their int32 sum plus 2**21, divided by 2**22 (truncating: all positive) is Pillow's
``(sum(x * c) + 2**21) >> 22``. Tested against Pillow itself (tests/test_frame_graph.py).
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.preprocess import (PIL_PRECISION_BITS, PIL_SPLIT_BITS, pil_bilinear_coefficients, pil_pass_exact,
                                    pil_vertical_first)

MAX_PERIOD = 16  # frame pixels per block of the horizontal pass
ROUNDING = 1 << (PIL_PRECISION_BITS - 1)
SHIFT = 1 << PIL_PRECISION_BITS
UNIT = float(1 << PIL_SPLIT_BITS)


def _taps(index, coeffs, i):
    """Output i's non-zero taps: -> (source indices, coefficients)."""
    nonzero = np.nonzero(coeffs[i])[0]
    return index[i, nonzero], coeffs[i, nonzero]


def column_plan(in_size, out_size, perm=(0, 1, 2)):
    """The horizontal pass as blocks of S pixels -> P outputs, or None (a long period, or an inexact
    pass). -> dict(S, P, left, right: neighbour pixels a block reads, weights_hi/lo: [K*3, P*3]
    float64 (output channel c from source channel perm[c]), first/last: the outputs the blocks give
    right, index, coeffs, perm)."""
    if in_size == out_size or not pil_pass_exact(in_size, out_size):
        return None
    gcd = math.gcd(in_size, out_size)
    period, outputs = in_size // gcd, out_size // gcd
    blocks = in_size // period
    if period > MAX_PERIOD or blocks < 3:
        return None
    index, coeffs = pil_bilinear_coefficients(in_size, out_size)
    middle = blocks // 2
    pattern = []
    for r in range(outputs):
        taps, values = _taps(index, coeffs, outputs * middle + r)
        pattern.append((taps - period * middle, values))
    periodic = []
    for i in range(out_size):
        taps, values = _taps(index, coeffs, i)
        rel, expected = pattern[i % outputs]
        block = i // outputs
        periodic.append(len(taps) == len(rel) and np.array_equal(taps - period * block, rel)
                        and np.array_equal(values, expected))
    first = periodic.index(True)
    last = out_size - periodic[::-1].index(True)
    if not all(periodic[first:last]) or first >= outputs or out_size - last >= outputs:
        return None
    left = max(0, -min(int(rel.min()) for rel, _ in pattern))
    right = max(0, max(int(rel.max()) for rel, _ in pattern) - (period - 1))
    width = period + left + right
    weights_hi = np.zeros((width * 3, outputs * 3))
    weights_lo = np.zeros((width * 3, outputs * 3))
    for r, (rel, values) in enumerate(pattern):
        for j, c in zip(rel + left, values.tolist()):
            for ch in range(3):  # output channel ch reads source channel perm[ch]
                weights_hi[j * 3 + perm[ch], r * 3 + ch] = (c >> PIL_SPLIT_BITS) * UNIT
                weights_lo[j * 3 + perm[ch], r * 3 + ch] = c & ((1 << PIL_SPLIT_BITS) - 1)
    return {"S": period, "P": outputs, "left": left, "right": right, "weights_hi": weights_hi,
            "weights_lo": weights_lo, "first": first, "last": last, "index": index, "coeffs": coeffs,
            "perm": tuple(perm)}


def _round(scaled_hi, lo):
    """floor((2**11 * S_hi + S_lo + 2**21) / 2**22) from 2**11 * S_hi and S_lo (exact float32 integers):
    their int32 sum plus 2**21, divided (truncating; all positive)."""
    total = scaled_hi.to(torch.int32) + lo.to(torch.int32) + ROUNDING
    return torch.div(total, SHIFT, rounding_mode="trunc").float()


class BlockColumns(nn.Module):
    """Pillow's horizontal pass of [N, H, W, 3] float pixels -> [N, H, w, 3], exact (column_plan)."""

    def __init__(self, plan, height):
        super().__init__()
        self.period, self.outputs = plan["S"], plan["P"]
        self.left, self.right, self.height = plan["left"], plan["right"], height
        self.first, self.last = plan["first"], plan["last"]
        self.out_size = plan["index"].shape[0]
        self.register_buffer("w_hi", torch.from_numpy(plan["weights_hi"].astype(np.float32)))
        self.register_buffer("w_lo", torch.from_numpy(plan["weights_lo"].astype(np.float32)))
        self.register_buffer("perm", torch.tensor(list(plan["perm"]), dtype=torch.int64))
        border = list(range(self.first)) + list(range(self.last, self.out_size))
        index, coeffs = plan["index"], plan["coeffs"]
        self.taps = [t for t in range(index.shape[1]) if coeffs[border, t].any()] if border else []
        for t in self.taps:
            c = coeffs[border, t]
            self.register_buffer("b{}_index".format(t), torch.from_numpy(index[border, t].astype(np.int64)))
            self.register_buffer("b{}_hi".format(t), torch.from_numpy(((c >> PIL_SPLIT_BITS) * UNIT).astype(
                np.float32)).view(1, 1, -1, 1))
            self.register_buffer("b{}_lo".format(t), torch.from_numpy(
                (c & ((1 << PIL_SPLIT_BITS) - 1)).astype(np.float32)).view(1, 1, -1, 1))

    def _blocks(self, x):
        rows = x.reshape(-1, self.height, x.shape[2] // self.period, self.period * 3)
        parts = []
        # the neighbours' pixels: the few columns first, then the shift (one small copy each);
        # zeros beyond the image: the outputs there are borders
        if self.left:
            parts.append(F.pad(rows[..., (self.period - self.left) * 3:][:, :, :-1], (0, 0, 1, 0)))
        parts.append(rows)
        if self.right:
            parts.append(F.pad(rows[..., :self.right * 3][:, :, 1:], (0, 0, 0, 1)))
        window = torch.cat(parts, dim=3) if len(parts) > 1 else rows
        out = _round(torch.matmul(window, self.w_hi), torch.matmul(window, self.w_lo))
        return out.reshape(-1, self.height, rows.shape[2] * self.outputs, 3)

    def _borders(self, x):
        scaled_hi = low = None
        for t in self.taps:
            taken = torch.index_select(x, 2, getattr(self, "b{}_index".format(t)))
            taken = torch.index_select(taken, 3, self.perm)  # the blocks' channel order (their weights hold it)
            hi, lo = taken * getattr(self, "b{}_hi".format(t)), taken * getattr(self, "b{}_lo".format(t))
            scaled_hi = hi if scaled_hi is None else scaled_hi + hi
            low = lo if low is None else low + lo
        return _round(scaled_hi, low)

    def forward(self, x):
        inner = self._blocks(x)
        if not self.taps:
            return inner
        border = self._borders(x)
        parts = [border[:, :, :self.first]] if self.first else []
        parts.append(inner[:, :, self.first:self.last])
        if self.last < self.out_size:
            parts.append(border[:, :, self.first:])
        return torch.cat(parts, dim=2)


class GatherRows(nn.Module):
    """Pillow's vertical pass of [N, H, L] rows (an HWC image, L = W * 3) -> [N, h, L], exact, at any
    ratio: each output row's source rows gathered, combined with its coefficients in one batched MatMul."""

    def __init__(self, in_size, out_size):
        super().__init__()
        index, coeffs = pil_bilinear_coefficients(in_size, out_size)
        runs = [_taps(index, coeffs, i) for i in range(out_size)]
        self.taps, self.out_size = max(len(taps) for taps, _ in runs), out_size
        # each output's own non-zero taps, padded to the longest run with weight 0 (on a row it reads anyway)
        rows = np.array([list(taps) + [taps[-1]] * (self.taps - len(taps)) for taps, _ in runs])
        kept = np.array([list(values) + [0] * (self.taps - len(values)) for _, values in runs], dtype=np.int64)
        self.register_buffer("rows", torch.from_numpy(rows.reshape(-1).astype(np.int64)))
        self.register_buffer("c_hi", torch.from_numpy(((kept >> PIL_SPLIT_BITS) * UNIT).astype(np.float32))
                             .view(out_size, 1, self.taps))
        self.register_buffer("c_lo", torch.from_numpy((kept & ((1 << PIL_SPLIT_BITS) - 1)).astype(np.float32))
                             .view(out_size, 1, self.taps))

    def forward(self, x):
        taken = torch.index_select(x, 1, self.rows).reshape(x.shape[0], self.out_size, self.taps, x.shape[2])
        return _round(torch.matmul(self.c_hi, taken), torch.matmul(self.c_lo, taken)).reshape(
            x.shape[0], self.out_size, x.shape[2])


class PilFrameBlocks(nn.Module):
    """[N, H, W, 3] float frames -> NCHW pixels resized as Pillow's Image.resize(BILINEAR), channels in
    ``perm`` order, in Pillow's pass order; for frames whose horizontal pass has a short period
    (``applicable``), else frame_graph.PilBilinear does it."""

    def __init__(self, frame_size, size, perm):
        super().__init__()
        (in_w, in_h), (out_w, out_h) = frame_size, size
        self.frame_size, self.size = tuple(frame_size), tuple(size)
        self.vertical_first = pil_vertical_first(in_w, in_h, out_w, out_h)
        plan = column_plan(in_w, out_w, perm)
        self.columns = BlockColumns(plan, out_h if self.vertical_first else in_h) if plan else None
        self.rows = GatherRows(in_h, out_h) if in_h != out_h else None
        # the channel order: the column pass's weights pick it, else a Gather of the channels at the end
        self.register_buffer("perm", torch.tensor(list(perm), dtype=torch.int64))
        self.reorder = self.columns is None and tuple(perm) != (0, 1, 2)

    @staticmethod
    def applicable(frame_size, size):
        (in_w, in_h), (out_w, out_h) = frame_size, size
        return ((in_w == out_w or column_plan(in_w, out_w) is not None)
                and (in_h == out_h or pil_pass_exact(in_h, out_h)))

    def _vertical(self, x):
        if self.rows is None:
            return x
        n, height, width, _ = x.shape
        return self.rows(x.reshape(n, height, width * 3)).reshape(n, self.size[1], width, 3)

    def forward(self, frame):
        x = frame
        if self.vertical_first:
            x = self._vertical(x)
        if self.columns is not None:
            x = self.columns(x)
        if not self.vertical_first:
            x = self._vertical(x)
        if self.reorder:
            x = torch.index_select(x, 3, self.perm)
        return x.permute(0, 3, 1, 2)
