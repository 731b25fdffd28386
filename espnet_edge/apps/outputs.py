"""What the demo writes: the overlay as a video or numbered PNGs, and per-frame stats (JSON/CSV).

Every file appears under a temporary name and is renamed when finished, also when the run is
interrupted: what was saved so far is kept, finalised.
"""

import csv
import json
import os
import tempfile

from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import (atomic_open, check_output_file, default_permissions, ensure_writable_dir,
                                      write_bytes, write_error)

VIDEO_SAVE_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")


def save_kind(path):
    """--save PATH -> "video" (a video extension) or "folder"; UserError for anything else (checked
    before any work)."""
    ext = os.path.splitext(path)[1].lower()
    if path.endswith(("/", os.sep)) or os.path.isdir(path) or not ext:
        return "folder"
    if ext in VIDEO_SAVE_EXTENSIONS:
        return "video"
    raise UserError("--save {}: give a video file ({}) or a folder for numbered PNG frames".format(
        path, ", ".join(VIDEO_SAVE_EXTENSIONS)))


def open_saver(path, fps):
    """--save PATH -> VideoSaver (a video extension) or FrameFolderSaver (a folder)."""
    return FrameFolderSaver(path) if save_kind(path) == "folder" else VideoSaver(path, fps)


class VideoSaver(object):
    """cv2.VideoWriter (mp4v) into a hidden temp file beside ``path``; close() renames it."""

    def __init__(self, path, fps):
        self.path = path
        self.fps = float(fps or 30.0)
        self.frames = 0
        self.size = None
        self._writer = None
        self._tmp = None
        check_output_file(path, "--save")

    def write(self, image):
        import cv2

        if self._writer is None:
            folder, name = os.path.split(os.path.abspath(self.path))
            ext = os.path.splitext(name)[1]
            try:
                fd, self._tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp" + ext, dir=folder)
                os.close(fd)
                default_permissions(self._tmp)
            except OSError as exc:
                raise write_error(self.path, exc, "--save")
            self.size = (image.shape[1] - image.shape[1] % 2, image.shape[0] - image.shape[0] % 2)  # mp4v: even
            self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self._writer.isOpened():
                os.unlink(self._tmp)
                self._writer = None
                raise UserError("cannot write video {}: this OpenCV build has no mp4v encoder; "
                                "save PNG frames instead with --save FOLDER".format(self.path))
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self):
        """Finish the file; -> its path, or None when nothing was written."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        try:
            _check_video_plays(self._tmp, self.path)
            os.replace(self._tmp, self.path)
        except BaseException as exc:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)
            if isinstance(exc, OSError):
                raise write_error(self.path, exc, "--save")
            raise
        return self.path


def _check_video_plays(tmp, path):
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
                        "space or save elsewhere with --save".format(path))


class FrameFolderSaver(object):
    """Numbered PNG frames (frame_000000.png, ...), each written atomically."""

    def __init__(self, folder):
        self.path = folder
        self.frames = 0
        ensure_writable_dir(folder, "--save")

    def frame_path(self, index):
        return os.path.join(self.path, "frame_{:06d}.png".format(index))

    def write(self, image):
        import cv2

        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise UserError("cannot encode frame {} as PNG".format(self.frames))
        write_bytes(self.frame_path(self.frames), data.tobytes(), flag="--save")
        self.frames += 1

    def close(self):
        return self.path if self.frames else None


STAT_FIELDS = ("frame", "source_frame", "latency_ms", "fps", "glass_to_glass_ms", "decode_ms", "preprocess_ms",
               "h2d_ms", "compute_ms", "d2h_ms", "postprocess_ms", "render_ms", "host_ms", "source_time_ms",
               "captured_ms")


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
