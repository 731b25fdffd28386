"""Find and read images the way every command does (one-line errors for bad input)."""

import os

from espnet_edge.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_file(path):
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def list_images(paths, recursive=True):
    """Files and folders -> sorted list of image files; UserError if a path is missing or empty (a path
    that exists but is no image file or folder is named as what it is)."""
    from espnet_edge.utils.pathchecks import file_problem

    if isinstance(paths, str):
        paths = [paths]
    found = []
    for path in paths:
        if os.path.isdir(path):
            inside = []
            for folder, _dirs, files in os.walk(path):
                inside.extend(os.path.join(folder, f) for f in files if is_image_file(f))
                if not recursive:
                    break
            if not inside:
                raise UserError("folder {} holds no images ({})".format(
                    path, ", ".join(IMAGE_EXTENSIONS[:4]) + ", ..."))
            found.extend(sorted(inside))
        else:
            problem = file_problem(path, "image", allow_empty=True)   # read_image says what is wrong
            if problem:
                raise UserError("{} {}".format(path, problem))
            found.append(path)
    return found


def quiet_opencv():
    """Stop OpenCV printing its own warnings for files we report on one line ourselves."""
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(getattr(logging, "LOG_LEVEL_SILENT", 0))
    return cv2


def read_image(path):
    """-> BGR uint8 HxWx3; UserError if OpenCV cannot decode it."""
    import numpy as np

    from espnet_edge.utils.pathchecks import file_problem

    problem = file_problem(path, "image")
    if problem:   # a fifo would block the read; a folder or device is no image
        raise UserError("cannot read image {}: it {}".format(path, problem))
    cv2 = quiet_opencv()
    data = None
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except (IOError, OSError) as exc:
        raise UserError("cannot read image {}: {}".format(path, exc))
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as exc:   # e.g. a header claiming more pixels than OpenCV's decode limit
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise UserError("cannot decode image {}: its header claims more pixels than OpenCV decodes "
                            "(CV_IO_MAX_IMAGE_PIXELS); resize it or check the file".format(path))
        raise UserError("cannot decode image {}: OpenCV refused it ({})".format(
            path, str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__))
    if image is None:
        raise UserError("cannot decode image {} (not an image, or truncated)".format(path))
    return image
