"""How big a source's frames are, and what size a CSI camera is asked for.

- Files and folders: the first frame, read once and handed out again as the first frame (FirstFrame).
- Cameras: the size the capture negotiated (its caps), else one frame read for it.
- CSI cameras on a Jetson: capture a sensor mode and let the VIC (nvvidconv) scale it to the network's
  input size where the VIC can (csi_plan), so the frame graph gets frames of the network size and
  neither the CPU nor the GPU resizes; where it cannot, the frame graph takes the native size.
"""

from espnet_edge.errors import UserError


class FirstFrame(object):
    """``first_frame()``: a file's or folder's first frame, read once and handed out again by read()."""

    _held = None
    name = "the source"

    def first_frame(self):
        """The first frame (read now, and still the first that read() returns); None when there is none."""
        if self._held is None:
            self._held = self._read()
        return self._held

    def read(self):
        if self._held is not None:
            frame, self._held = self._held, None
            return frame
        return self._read()

    def frame_size(self):
        """(width, height) of the first frame; UserError when the source has no frame at all."""
        frame = self.first_frame()
        if frame is None:
            raise UserError("could not read any frame from {}".format(self.name))
        return frame.shape[1], frame.shape[0]


# What a CSI camera is asked for without --camera-size (the size this demo always captured): 1280x720
# is one of the sensor modes of the TX2 devkit's OV5693 (2592x1944, 2592x1458, 1280x720 in its device
# tree; NVIDIA forum "Relation between gstreamer pipeline and device tree modes", t/77675, where NVIDIA
# also says Argus picks the mode of the requested aspect ratio and the VIC scales it to the request).
CSI_DEFAULT_SIZE = (1280, 720)
# The VIC's scaler (nvvidconv): output/input between 1/16 and 16 per axis, sizes 16..16384, even sizes
# for 4:2:0 formats such as the camera's NV12. Source: NVIDIA VPI, vpiSubmitRescale on the VIC backend
# (docs.nvidia.com/vpi/group__VPI__Rescale.html); not checked on a board here.
VIC_MAX_RATIO = 16.0
VIC_SIDES = (16, 16384)
ROTATING_FLIPS = (1, 3, 5, 7)  # nvvidconv flip-methods that turn the image by 90 degrees (swap W and H)


def vic_problem(capture, target, flip_method=0):
    """None when nvvidconv (the VIC) can scale ``capture`` (W, H) frames to ``target``, else why not."""
    width, height = capture
    if int(flip_method) in ROTATING_FLIPS:
        width, height = height, width
    for axis, have, want in (("width", width, target[0]), ("height", height, target[1])):
        if not VIC_SIDES[0] <= want <= VIC_SIDES[1]:
            return "a {} of {} is outside the VIC's {}..{}".format(axis, want, VIC_SIDES[0], VIC_SIDES[1])
        if want % 2:
            return "an odd {} ({}) for the camera's NV12 frames".format(axis, want)
        ratio = float(want) / have
        if not 1.0 / VIC_MAX_RATIO <= ratio <= VIC_MAX_RATIO:
            return "the {} would scale by {:.3g}, beyond the VIC's 1/16..16".format(axis, ratio)
    return None


def csi_plan(target, camera_size=None, flip_method=0):
    """What to ask a CSI camera for: -> (capture size, size the VIC scales to or None, one-line note).
    ``target``: the frame size the network wants (its input size); ``camera_size``: --camera-size (the
    capture, i.e. sensor-mode, size; default CSI_DEFAULT_SIZE)."""
    capture = tuple(camera_size or CSI_DEFAULT_SIZE)
    native = capture[::-1] if int(flip_method) in ROTATING_FLIPS else capture
    if target is None or tuple(target) == native:
        return capture, None, "the CSI camera delivers {}x{} frames".format(*native)
    why = vic_problem(capture, target, flip_method)
    if why is None:
        return capture, tuple(target), ("the CSI camera captures {}x{} and the VIC (nvvidconv) scales it to {}x{}, "
                                        "the network's input size".format(capture[0], capture[1], *target))
    return capture, None, "the VIC cannot scale the CSI camera's {}x{} to {}x{} ({}): frames stay {}x{}".format(
        capture[0], capture[1], target[0], target[1], why, native[0], native[1])
