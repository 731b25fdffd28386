"""Where espnet-edge keeps files: outputs in the current directory, downloads and on-demand exports in
the user's cache folder, never inside the installed package or its checkout.

- ``./export``   what `espnet-edge export` / `build` write (and where a zoo model's ONNX is looked for first)
- ``./profiles`` what `espnet-edge profile` / `sweep` write
- cache: ``$ESPNET_EDGE_CACHE``, else ``$XDG_CACHE_HOME/espnet-edge``, else ``~/.cache/espnet-edge``
  (XDG Base Directory Specification: https://specifications.freedesktop.org/basedir-spec/latest/),
  holding ``models/`` (downloaded checkpoints) and ``export/`` (ONNX files exported on demand).
"""

import logging
import os

log = logging.getLogger(__name__)

CACHE_ENV = "ESPNET_EDGE_CACHE"


def cache_dir():
    if os.environ.get(CACHE_ENV):
        return os.path.abspath(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "espnet-edge")


def weights_cache_dir():
    return os.path.join(cache_dir(), "models")


def export_cache_dir():
    return os.path.join(cache_dir(), "export")


def export_dir():
    return os.path.abspath("export")


def profiles_dir():
    return os.path.abspath("profiles")


def note(message):
    """Tell the user about work they did not ask for by name (an implicit export or download)."""
    log.info("note: %s", message)
