"""Write artifacts under a temporary name in the target folder, then rename: never half a file."""

import contextlib
import json
import os
import tempfile

from espnet_edge.errors import UserError


def ensure_writable_dir(path):
    """Create ``path`` if needed and check we can write there; raise UserError otherwise."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError("cannot create output folder {}: {}; choose another with --out".format(
            path, exc.strerror or exc))
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError("output folder {} is not writable; choose another with --out".format(path))
    return path


def default_permissions(path):
    """mkstemp makes 0600 files; give ``path`` the usual umask-based mode."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, else removed."""
    folder = os.path.dirname(os.path.abspath(path))
    ensure_writable_dir(folder)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        if os.path.isfile(tmp):
            default_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    with atomic_path(path) as tmp:
        with open(tmp, mode) as handle:
            yield handle


def write_json(path, data):
    with atomic_open(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_bytes(path, data):
    with atomic_open(path, "wb") as handle:
        handle.write(data)
