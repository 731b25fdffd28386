"""Find a zoo checkpoint: --weights, $ESPNET_EDGE_WEIGHTS (recursive), the user's cache, checked download."""

import hashlib
import os
import socket

from espnet_edge import paths
from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import atomic_open, ensure_writable_dir
from espnet_edge.utils.progress import Progress

WEIGHTS_ENV = "ESPNET_EDGE_WEIGHTS"


def _find_under(root, relative, basename):
    direct = os.path.join(root, relative)
    if os.path.isfile(direct):
        return direct
    for folder, _dirs, files in os.walk(root):
        if basename in files:
            return os.path.join(folder, basename)
    return None


def find_weights(entry, explicit=None, download=True, cache_dir=None):
    """Return the path of ``entry``'s checkpoint, downloading it into the cache as a last resort."""
    if explicit:
        if os.path.isdir(explicit):
            raise UserError("weights file {} is a folder; give the checkpoint file itself".format(explicit))
        if not os.path.isfile(explicit):
            raise UserError("weights file {} does not exist".format(explicit))
        return explicit
    if entry.weights_file is None:
        return None  # architecture only: nothing to look up (espnet_edge.zoo.require_weights)
    env_root = os.environ.get(WEIGHTS_ENV)
    if env_root and os.path.isdir(env_root):
        found = _find_under(env_root, entry.weights_file, entry.weights_basename)
        if found:
            return found
    cache = cache_dir or paths.weights_cache_dir()
    cached = os.path.join(cache, entry.weights_file)
    if os.path.isfile(cached):
        return cached
    if not download:
        return None
    return download_weights(entry, cached)


def locate_weights(entry):
    """Like find_weights but never downloads; None when not present locally."""
    return find_weights(entry, download=False)


def download_weights(entry, destination, timeout=30):
    from urllib.request import urlopen

    where = "put {} at {} or set ${} to a folder that holds it".format(
        entry.weights_basename, destination, WEIGHTS_ENV)
    ensure_writable_dir(os.path.dirname(destination), "$" + paths.CACHE_ENV)
    paths.note("downloading the {} checkpoint from {} to {} (sha256-checked; later runs reuse it)".format(
        entry.name, entry.url, destination))
    try:
        with atomic_open(destination, "wb") as handle:
            digest = hashlib.sha256()
            response = urlopen(entry.url, timeout=timeout)
            size_mb = int(response.headers.get("Content-Length") or 0) // (1 << 20)
            with Progress(size_mb, "download {} (MB)".format(entry.name)) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    handle.write(block)
                    bar.update(len(block) / float(1 << 20))
            if digest.hexdigest() != entry.sha256:
                raise UserError("download of {} has sha256 {} but the zoo expects {}; {}".format(
                    entry.url, digest.hexdigest(), entry.sha256, where))
    except UserError:
        raise
    except (OSError, socket.timeout, ValueError) as exc:
        raise UserError("cannot download weights for {} from {} ({}); {}".format(
            entry.name, entry.url, getattr(exc, "reason", exc), where))
    return destination
