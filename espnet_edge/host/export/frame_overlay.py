"""The overlay at the end of a frame graph (``export --fuse-overlay``): the class map resized to the frame
(nearest, as ``Segmenter.resize_mask``), coloured with the palette and alpha-blended over the frame with
``visualize.overlay``'s arithmetic; for integer ratios the colours are looked up at the network size and
broadcast over whole frame rows. One output, [N, H + R, W, 3]: the BGR overlay, then R rows holding the
network-size class map (``class_rows``). ONNX Runtime lowers its uint8 tail (runtime/overlay_tail.py)."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.runtime.segmenter import nearest_indices


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
        self.block = None
        (frame_w, frame_h), (width, height) = self.frame_size, self.size
        if frame_w % width == 0 and frame_h % height == 0:
            # nearest by an integer factor repeats each class f times: the colours are looked up
            # at the network size, each row of the table holding a colour fx times (one class
            # covers fx x 3 consecutive values of a frame row), and broadcast over fy frame rows
            self.block = (frame_w // width, frame_h // height)
            bgr = np.tile(bgr, (1, self.block[0]))
        self.register_buffer("colours", torch.from_numpy(np.ascontiguousarray(bgr)))
        rows, cols = nearest_indices(self.size, self.frame_size)
        self.register_buffer("near_rows", torch.from_numpy(rows))
        self.register_buffer("near_cols", torch.from_numpy(cols))

    def _blend(self, classes, frame):
        """Class map [N, h, w] (int64) and frame [N, H, W, 3] -> alpha * colour + (1 - alpha) * frame + 0.5."""
        width, height = self.frame_size
        if self.block is not None:
            rows = self.colours[classes].reshape(-1, self.size[1], 1, width * 3)
            # broadcasting over whole frame rows (W x 3 contiguous values), not pixel by pixel
            frame_rows = frame.reshape(-1, self.size[1], self.block[1], width * 3)
            return (frame_rows * (1.0 - self.alpha) + rows).reshape(-1, height, width, 3)
        # the class map resized as Segmenter.resize_mask does (OpenCV's INTER_NEAREST), as two Gathers of
        # constant indices: no Shape/Resize size computation, the same source pixel as OpenCV picks
        full = torch.index_select(torch.index_select(classes, 1, self.near_rows), 2, self.near_cols)
        return frame * (1.0 - self.alpha) + self.colours[full]

    def forward(self, logits, frame):
        width, height = self.frame_size
        labels = torch.argmax(logits, dim=1)  # [N, h, w]
        classes = labels.unsqueeze(1).float()  # [N, 1, h, w]
        overlay = self._blend(labels, frame)
        if self.floor:
            overlay = torch.floor(overlay)
        count = self.size[0] * self.size[1]
        flat = F.pad(classes.reshape(-1, count), (0, self.rows * width * 3 - count))
        return torch.cat([overlay, flat.reshape(-1, self.rows, width, 3)], dim=1)
