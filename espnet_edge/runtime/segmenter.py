"""Frame in, class map out: preprocessing, inference through any Runner, postprocessing."""

import logging

import numpy as np

from espnet_edge import visualize
from espnet_edge.preprocess import preprocess

log = logging.getLogger(__name__)


class Segmenter(object):
    def __init__(self, runner, resize_frames=False):
        self.runner = runner
        self.info = runner.info
        self.resize_frames = resize_frames  # frames of another size than a frame graph's: CPU resize
        self._warned = False

    def for_frame(self, frame_bgr):
        """The segmenter for this frame: itself (apps.frame_graph_choice.FrameGraphRouter picks one per
        frame size)."""
        return self

    def preprocess(self, frame_bgr):
        info = self.info
        if info.frame_size and self.resize_frames and not self._warned and \
                (frame_bgr.shape[1], frame_bgr.shape[0]) != tuple(info.frame_size):
            self._warned = True
            log.warning("frames are %dx%d, the graph takes %dx%d: resizing on the CPU (slower, and no "
                        "longer the checkpoint's exact preprocessing)", frame_bgr.shape[1],
                        frame_bgr.shape[0], info.frame_size[0], info.frame_size[1])
        return preprocess(frame_bgr, info.preprocess, info.input_size, layout=info.input_layout,
                          fused_pre=info.fused_pre, frame_size=info.frame_size,
                          frame_dtype=info.frame_dtype, resize_frames=self.resize_frames)

    def infer(self, batch):
        return self.runner.infer(batch)

    def postprocess(self, output):
        """Runner output -> uint8 class maps [N, H, W] at the network size."""
        output = np.asarray(output)
        if self.info.fused_overlay:
            return np.stack([split_overlay(o, self.info)[0] for o in output])
        if self.info.fused_post:
            classes = output.reshape(output.shape[0], output.shape[-2], output.shape[-1])
        else:
            classes = np.argmax(output, axis=1)
        return classes.astype(np.uint8)

    def segment(self, frame_bgr, at_network_size=False):
        """One BGR frame -> uint8 class map, at the frame's size unless ``at_network_size``."""
        mask = self.postprocess(self.infer(self.preprocess(frame_bgr)))[0]
        if at_network_size:
            return mask
        return resize_mask(mask, (frame_bgr.shape[1], frame_bgr.shape[0]))

    def segment_overlay(self, frame_bgr, alpha=0.5):
        """One BGR frame -> (class map, overlay), both at the frame's size. A graph exported with
        --fuse-overlay returns both (its alpha was fixed at export); otherwise they are made here."""
        if self.info.fused_overlay:
            mask, overlay = split_overlay(np.asarray(self.infer(self.preprocess(frame_bgr)))[0], self.info)
            return resize_mask(mask, (overlay.shape[1], overlay.shape[0])), overlay
        mask = self.segment(frame_bgr)
        return mask, visualize.overlay(frame_bgr, mask, self.info.palette, alpha)

    def colorize(self, mask):
        return visualize.colorize(mask, self.info.palette)

    def overlay(self, frame_bgr, mask, alpha=0.5):
        mask = resize_mask(mask, (frame_bgr.shape[1], frame_bgr.shape[0]))
        return visualize.overlay(frame_bgr, mask, self.info.palette, alpha)

    def close(self):
        self.runner.close()


def split_overlay(output, info):
    """[H + R, W, 3] overlay-graph output -> (uint8 class map at the network size, uint8 BGR overlay
    at the frame size; a view of ``output`` when it is uint8)."""
    width, height = info.frame_size
    net_w, net_h = info.input_size
    overlay = output[:height]
    classes = output[height:].reshape(-1)[:net_w * net_h].reshape(net_h, net_w)
    if output.dtype != np.uint8:
        overlay = overlay.astype(np.uint8)
    return classes.astype(np.uint8), overlay


def resize_mask(mask, size):
    """Nearest-neighbour resize of a class map to (width, height), as the authors' scripts do."""
    width, height = size
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask
    import cv2

    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def nearest_indices(size, frame_size):
    """Source row and column of every frame pixel when a (w, h) class map is resized to (W, H) with
    OpenCV's INTER_NEAREST (what resize_mask does): found by resizing index ramps with OpenCV itself
    (the frame graph's overlay gathers with them). -> (rows [H], cols [W]) int64."""
    import cv2

    (width, height), (frame_w, frame_h) = size, frame_size
    cols = cv2.resize(np.arange(width, dtype=np.int32)[None, :], (frame_w, 1), interpolation=cv2.INTER_NEAREST)
    rows = cv2.resize(np.arange(height, dtype=np.int32)[:, None], (1, frame_h), interpolation=cv2.INTER_NEAREST)
    return rows.reshape(frame_h).astype(np.int64), cols.reshape(frame_w).astype(np.int64)
