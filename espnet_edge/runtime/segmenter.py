"""Frame in, class map out: preprocessing, inference through any Runner, postprocessing."""

import numpy as np

from espnet_edge import visualize
from espnet_edge.preprocess import preprocess


class Segmenter(object):
    def __init__(self, runner):
        self.runner = runner
        self.info = runner.info

    def preprocess(self, frame_bgr):
        return preprocess(frame_bgr, self.info.preprocess, self.info.input_size,
                          layout=self.info.input_layout, fused_pre=self.info.fused_pre)

    def infer(self, batch):
        return self.runner.infer(batch)

    def postprocess(self, output):
        """Runner output -> uint8 class maps [N, H, W] at the network size."""
        output = np.asarray(output)
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

    def colorize(self, mask):
        return visualize.colorize(mask, self.info.palette)

    def overlay(self, frame_bgr, mask, alpha=0.5):
        mask = resize_mask(mask, (frame_bgr.shape[1], frame_bgr.shape[0]))
        return visualize.overlay(frame_bgr, mask, self.info.palette, alpha)

    def close(self):
        self.runner.close()


def resize_mask(mask, size):
    """Nearest-neighbour resize of a class map to (width, height), as the authors' scripts do."""
    width, height = size
    if mask.shape[1] == width and mask.shape[0] == height:
        return mask
    import cv2

    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
