"""What the demo writes: the overlay as a video or numbered PNGs, and per-frame stats (JSON/CSV).

Every file appears under a temporary name and is renamed when finished, also when the run is
interrupted: what was saved so far is kept, finalised.
"""

import csv
import json
import logging
import os
import tempfile

import numpy as np

from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import (atomic_open, check_output_dir, check_output_file, default_permissions,
                                      ensure_writable_dir, write_bytes, write_error)
from espnet_edge.utils.quiet import native_output_quiet

log = logging.getLogger(__name__)
VIDEO_SAVE_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")


FRAME_NAMES = r"frame_\d{6}\.png$"   # what a FrameFolderSaver writes


def _is_folder(path):
    return path.endswith(("/", os.sep)) or os.path.isdir(path) or not os.path.splitext(path)[1]


def save_target(path, flag="--save"):
    """Check a --save (or file --output) value before any work -> what it writes, as
    validate.outputs_apart takes it: (flag, video file) or (flag, folder, frame-name pattern)."""
    if _is_folder(path):
        check_output_dir(path, flag)
        return (flag, path, FRAME_NAMES)
    if os.path.splitext(path)[1].lower() not in VIDEO_SAVE_EXTENSIONS:
        raise UserError("{} {}: give a video file ({}) or a folder for numbered PNG frames".format(
            flag, path, ", ".join(VIDEO_SAVE_EXTENSIONS)))
    check_output_file(path, flag)
    return (flag, path)


def open_saver(path, fps, flag="--save"):
    """--save PATH -> VideoSaver (a video extension) or FrameFolderSaver (a folder)."""
    save_target(path, flag)
    if _is_folder(path):
        return FrameFolderSaver(path, flag)
    return VideoSaver(path, fps, flag)


class VideoSaver(object):
    """cv2.VideoWriter (mp4v) into a hidden temp file beside ``path``; close() renames it.

    A video has one frame size, the first frame's (cropped to even sides, as mp4v needs). A later frame
    of another size is letterboxed into it (scaled to fit without changing its shape, black bars), never
    stretched, and the first such frame is named in one warning; --save FOLDER keeps every size."""

    def __init__(self, path, fps, flag="--save"):
        self.path = path
        self.flag = flag
        self.fps = float(fps or 30.0)
        self.frames = 0
        self.size = None
        self.letterboxed = 0
        self._writer = None
        self._tmp = None
        check_output_file(path, flag)

    def _open(self, image):
        import cv2

        size = (image.shape[1] - image.shape[1] % 2, image.shape[0] - image.shape[0] % 2)  # mp4v: even
        if min(size) < 2:
            raise UserError("cannot write video {}: the first frame is {}x{}, too small for a video; save PNG "
                            "frames with {} FOLDER".format(self.path, image.shape[1], image.shape[0], self.flag))
        self._tmp = _temp_beside(self.path, self.flag)
        with native_output_quiet("the video writer"):
            writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
            opened = writer.isOpened()
        if not opened:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
            _check_folder_takes_bytes(self.path, self.flag)   # a full or read-only disk: said as such
            with native_output_quiet("the video writer"):
                encoder = _mp4v_encoder_here(self._tmp)
            if encoder:
                raise UserError("cannot write video {}: the mp4v encoder refuses {}x{} frames (MPEG-4 part 2 "
                                "takes sides below 8192); save PNG frames with {} FOLDER".format(
                                    self.path, size[0], size[1], self.flag))
            raise UserError("cannot write video {}: this OpenCV build has no mp4v encoder; save PNG frames "
                            "instead with {} FOLDER".format(self.path, self.flag))
        self._writer, self.size = writer, size

    def write(self, image):
        if self._writer is None:
            self._open(image)
        height, width = image.shape[:2]
        if (width, height) != self.size:
            if (width - width % 2, height - height % 2) != self.size:
                if not self.letterboxed:
                    log.warning("frame %d is %dx%d but %s is %dx%d (its first frame): frames of other sizes are "
                                "letterboxed (scaled to fit, black bars), not stretched; save with %s FOLDER to "
                                "keep each frame's size", self.frames, width, height, self.path, self.size[0],
                                self.size[1], self.flag)
                self.letterboxed += 1
                image = letterbox(image, self.size)
            else:
                image = image[:self.size[1], :self.size[0]]   # the odd last row/column mp4v cannot take
        self._writer.write(np.ascontiguousarray(image))
        self.frames += 1

    def close(self):
        """Finish the file; -> its path, or None when nothing was written."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        try:
            _check_video_plays(self._tmp, self.path, self.flag)
            os.replace(self._tmp, self.path)
        except BaseException as exc:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
            if isinstance(exc, OSError):
                raise write_error(self.path, exc, self.flag)
            raise
        return self.path


def letterbox(image, size):
    """``image`` scaled to fit ``size`` (W, H) without changing its shape, centred on black."""
    import cv2

    width, height = size
    scale = min(width / float(image.shape[1]), height / float(image.shape[0]))
    new = (max(1, int(round(image.shape[1] * scale))), max(1, int(round(image.shape[0] * scale))))
    resized = cv2.resize(image, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), dtype=image.dtype)
    top, left = (height - new[1]) // 2, (width - new[0]) // 2
    canvas[top:top + new[1], left:left + new[0]] = resized
    return canvas


def _temp_beside(path, flag):
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp" + os.path.splitext(name)[1], dir=folder)
        os.close(fd)
        default_permissions(tmp)
    except OSError as exc:
        raise write_error(path, exc, flag)
    return tmp


def _check_folder_takes_bytes(path, flag, size=65536):
    """A writer that did not open: first see whether the folder takes bytes at all (write_error then
    says disk full, read-only, ...), before blaming the encoder or the frame size."""
    folder = os.path.dirname(os.path.abspath(path))
    probe = None
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=folder)
        try:
            os.write(fd, b"\0" * size)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise write_error(path, exc, flag)
    finally:
        if probe and os.path.exists(probe):
            os.unlink(probe)


def _mp4v_encoder_here(beside):
    """Whether mp4v opens at all (a 64x64 probe beside ``beside``): tells a refused frame size from a
    missing encoder."""
    import cv2

    probe = beside + ".probe.mp4"
    writer = cv2.VideoWriter(probe, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 64))
    try:
        return writer.isOpened()
    finally:
        writer.release()
        if os.path.exists(probe):
            os.unlink(probe)


def _check_video_plays(tmp, path, flag="--save"):
    """cv2.VideoWriter reports no write errors: a full disk leaves a container without its index.
    Open the closed file again and read a frame before it gets its final name."""
    import cv2

    capture = cv2.VideoCapture(tmp)
    try:
        ok = capture.isOpened() and capture.read()[0]
    finally:
        capture.release()
    if not ok:
        raise UserError("cannot write video {}: the finished file does not play back (disk full?); free some "
                        "space or save elsewhere with {}".format(path, flag))


class FrameFolderSaver(object):
    """Numbered PNG frames (frame_000000.png, ...), each written atomically."""

    def __init__(self, folder, flag="--save"):
        self.path = folder
        self.flag = flag
        self.frames = 0
        ensure_writable_dir(folder, flag)

    def frame_path(self, index):
        return os.path.join(self.path, "frame_{:06d}.png".format(index))

    def write(self, image):
        import cv2

        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise UserError("cannot encode frame {} as PNG".format(self.frames))
        write_bytes(self.frame_path(self.frames), data.tobytes(), flag=self.flag)
        self.frames += 1

    def close(self):
        return self.path if self.frames else None


STAT_FIELDS = ("frame", "source_frame", "latency_ms", "fps", "glass_to_glass_ms", "decode_ms", "preprocess_ms",
               "h2d_ms", "compute_ms", "d2h_ms", "postprocess_ms", "render_ms", "host_ms", "host_cpu_ms",
               "source_time_ms", "captured_ms")


def write_stats(path, rows, summary):
    """Per-frame rows (dicts with STAT_FIELDS) -> .json ({"summary", "frames"}) or .csv."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        with atomic_open(path, "w", flag="--record-stats") as handle:
            writer = csv.DictWriter(handle, fieldnames=STAT_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
        return path
    with atomic_open(path, "w", flag="--record-stats") as handle:
        json.dump({"summary": summary, "frames": list(rows)}, handle, indent=1)
        handle.write("\n")
    return path


def check_stats_path(path):
    if os.path.splitext(path)[1].lower() not in (".json", ".csv"):
        raise UserError("--record-stats {}: name a .json or .csv file".format(path))
    check_output_file(path, "--record-stats")
