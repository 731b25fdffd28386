"""Every /sys, /proc, /etc, /run path we touch goes through ESPNET_EDGE_SYSFS_ROOT (a prefix; unset = "/").

Tests point the prefix at a simulated tree; on a board it is unset and paths are the real ones.
"""

import os

ENV_ROOT = "ESPNET_EDGE_SYSFS_ROOT"


def root():
    return os.environ.get(ENV_ROOT) or "/"


def path(abs_path):
    """The real location of the absolute board path ``abs_path`` under the prefix."""
    base = root()
    if base == "/":
        return abs_path
    return os.path.join(base, abs_path.lstrip("/"))


def unprefix(real_path):
    """Turn a prefixed real path back into the board path it stands for (for messages)."""
    base = root()
    if base == "/":
        return real_path
    base = os.path.realpath(base)
    real = os.path.realpath(real_path) if os.path.exists(real_path) else real_path
    if real == base:
        return "/"
    if real.startswith(base + os.sep):
        return "/" + real[len(base) + 1:]
    return real_path


def read_text(real_path, default=None):
    """Read a small sysfs/procfs file (already prefixed); NULs and whitespace stripped; ``default`` if absent."""
    try:
        with open(real_path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError):
        return default
    return data.replace(b"\x00", b"\n").decode("utf-8", "replace").strip()


def read_hz(real_path):
    """A devfreq frequency file (cur_freq, min_freq, ...; already prefixed) in Hz; None when it is absent
    or does not hold a plain number (a devfreq frequency has at most 12 digits)."""
    text = read_text(real_path)
    return int(text) if text and text.isdigit() and len(text) < 13 else None


def read_board(abs_path, default=None):
    """``read_text`` of a board path (prefixed first)."""
    return read_text(path(abs_path), default)
