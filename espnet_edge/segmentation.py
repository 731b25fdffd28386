"""What ``SegmentationModel.segment`` returns, and how an image the user hands over becomes BGR pixels."""

import os

import numpy as np

from espnet_edge import defaults, visualize
from espnet_edge.errors import UserError

CHANNEL_ORDERS = ("rgb", "bgr")


def _check_channels(channels):
    if isinstance(channels, str) and channels.lower() in CHANNEL_ORDERS:
        return channels.lower()
    if channels not in CHANNEL_ORDERS:
        raise UserError("channels must be 'rgb' or 'bgr' (got {!r}): give channels='rgb' (PIL, matplotlib) or "
                        "channels='bgr' (OpenCV)".format(channels))
    return channels


def _order(channels, default="rgb"):
    return default if channels is None else _check_channels(channels)


def to_bgr(image, channels=None):
    """A path, a PIL image, or a uint8 numpy array HxWx3 (``channels`` says 'rgb' or 'bgr'; HxW is
    grey) -> (BGR uint8 HxWx3, the order to hand results back in)."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        from espnet_edge.images import read_image

        return read_image(os.fsdecode(image)), _order(channels)
    if hasattr(image, "convert") and hasattr(image, "mode") and hasattr(image, "size"):  # PIL.Image
        rgb = np.asarray(image.convert("RGB"))
        if rgb.size == 0:
            raise UserError("the PIL image is empty ({}x{}): pass one with pixels".format(*image.size))
        return np.ascontiguousarray(rgb[:, :, ::-1]), _order(channels)
    if not isinstance(image, np.ndarray):
        raise UserError("segment() takes an image path, a PIL image or a numpy array, not {}".format(
            type(image).__name__))
    if image.dtype != np.uint8:
        raise UserError("a numpy image must be uint8 0..255 (got {}); convert it with "
                        "np.clip(x, 0, 255).astype(np.uint8)".format(image.dtype))
    if image.ndim not in (2, 3) or image.ndim == 3 and image.shape[2] != 3:
        hint = "; drop the alpha channel with image[:, :, :3]" if image.ndim == 3 and image.shape[2] == 4 else ""
        raise UserError("a numpy image must be HxWx3 (or HxW grey), got shape {}{}".format(list(image.shape), hint))
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise UserError("the image is empty (shape {}): pass one with pixels".format(list(image.shape)))
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2)), _order(channels)
    if channels is None:
        raise UserError("say the channel order of a numpy image: segment(image, channels='rgb') "
                        "(PIL, matplotlib, imageio) or channels='bgr' (OpenCV)")
    channels = _check_channels(channels)
    if channels == "rgb":
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image), channels


class Segmentation(object):
    """A class map and what is needed to show it.

    ``class_map``: uint8 HxW, one class index per pixel (at the image size, or the network's);
    ``class_names`` and ``palette`` (RGB tuples) index alike; ``image``: the input as ``channels``.
    """

    def __init__(self, class_map, class_names, palette, image_bgr, channels="rgb", model=None):
        self.class_map = class_map
        self.class_names = tuple(class_names)
        self.palette = tuple(palette)
        self._image_bgr = image_bgr
        self.channels = channels
        self.model = model

    @property
    def image(self):
        return self._to(self._image_bgr, self.channels)

    def classes_present(self):
        """Names of the classes in the map, most pixels first."""
        return [self.class_names[c] for c in visualize.classes_present(self.class_map, len(self.class_names))]

    def fractions(self):
        """{class name: fraction of pixels} for the classes present."""
        counts = np.bincount(self.class_map.ravel(), minlength=len(self.class_names))
        total = float(self.class_map.size)
        return dict((self.class_names[c], float(counts[c]) / total) for c in range(len(self.class_names)) if counts[c])

    def colorize(self, channels=None):
        """The class map in the palette's colours, HxWx3 uint8 (``channels`` default: the input's)."""
        return self._to(visualize.colorize(self.class_map, self.palette), channels or self.channels)

    def overlay(self, alpha=defaults.OVERLAY_ALPHA, legend=True, channels=None):
        """The colours blended over the input image (at the image's size), with a legend of the classes
        present (most frequent first, top right) and outlines around dark classes, as `espnet-edge demo`
        and `segment --overlay` draw. An image too small to hold the legend within
        visualize.LEGEND_MAX_SHARE of its area gets it in a panel on the right: the result is wider."""
        from espnet_edge.runtime.segmenter import resize_mask

        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number)) or not 0.0 <= alpha <= 1.0:
            raise UserError("give alpha as a number between 0 and 1 (got {!r})".format(alpha))
        frame = self._image_bgr
        mask = resize_mask(self.class_map, (frame.shape[1], frame.shape[0]))
        blended = visualize.overlay(frame, mask, self.palette, alpha)
        if legend:
            blended = visualize.decorate(blended, mask, self.class_names, self.palette)
        return self._to(blended, channels or self.channels)

    @staticmethod
    def _to(bgr, channels):
        return bgr if _check_channels(channels) == "bgr" else np.ascontiguousarray(bgr[:, :, ::-1])

    def __repr__(self):
        return "Segmentation({}, {}x{}, {})".format(self.model, self.class_map.shape[1], self.class_map.shape[0],
                                                   ", ".join(self.classes_present()[:5]))
