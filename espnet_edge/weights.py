"""Find a zoo checkpoint: --weights, $ESPNET_EDGE_WEIGHTS (recursive), the user's cache, checked download."""

import hashlib
import os
import socket

from espnet_edge import paths
from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import atomic_open, ensure_writable_dir
from espnet_edge.utils.progress import Progress

WEIGHTS_ENV = "ESPNET_EDGE_WEIGHTS"


_VERIFIED = {}   # (real path, size, mtime) -> sha256, so a lookup hashes each file once per process


def env_root():
    """$ESPNET_EDGE_WEIGHTS as set (None when unset or empty); UserError when it names no folder."""
    root = os.environ.get(WEIGHTS_ENV) or None
    if root is not None:
        problem = env_problem(root)
        if problem:
            raise UserError(problem)
    return root


def env_problem(root=None):
    """-> one line when $ESPNET_EDGE_WEIGHTS is set but names no folder, else None."""
    from espnet_edge.utils.pathchecks import folder_problem

    root = root if root is not None else os.environ.get(WEIGHTS_ENV)
    if not root:
        return None
    problem = folder_problem(root)
    if problem is None:
        return None
    return "${} is set to {}, which {}; point it at the folder that holds the checkpoints (e.g. " \
           "espnet/encoder/espnet_p_2_q_3.pth below it) or unset it".format(WEIGHTS_ENV, root, problem)


def _sha256(path):
    from espnet_edge.utils.digest import sha256_of

    info = os.stat(path)
    key = (os.path.realpath(path), info.st_size, info.st_mtime)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_of(path)
    return _VERIFIED[key]


def _candidates(root, relative, basename):
    """Files under ``root`` that may be the checkpoint: ``relative`` first, then any of that name."""
    direct = os.path.join(root, relative)
    found = [direct] if os.path.isfile(direct) else []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        if basename in files and os.path.join(folder, basename) != direct:
            found.append(os.path.join(folder, basename))
    return found


def _checked(entry, paths_found, where):
    """The first of ``paths_found`` whose sha256 is the zoo's (encoder and decoder checkpoints share file
    names); UserError when only files with another digest are there (corrupt, truncated, other version)."""
    if not paths_found:
        return None
    if not entry.sha256:
        return paths_found[0]
    for path in paths_found:
        if _sha256(path) == entry.sha256:
            return path
    first = paths_found[0]
    raise UserError("checkpoint {} ({}) has sha256 {} but the zoo's {} is {}: the file is corrupt, truncated or "
                    "another version; delete it to download it again, or pass a checkpoint of your own with "
                    "--weights".format(first, where, _sha256(first), entry.name, entry.sha256))


def find_weights(entry, explicit=None, download=True, cache_dir=None):
    """Return the path of ``entry``'s checkpoint, downloading it into the cache as a last resort.
    Checkpoints found under $ESPNET_EDGE_WEIGHTS or in the cache are checked against the zoo's sha256."""
    if explicit:
        from espnet_edge.utils.pathchecks import file_problem

        problem = file_problem(explicit, "checkpoint")
        if problem:
            raise UserError("weights file {} {}".format(explicit, problem))
        return explicit
    if entry.weights_file is None:
        return None  # architecture only: nothing to look up (espnet_edge.zoo.require_weights)
    root = env_root()
    if root:
        found = _checked(entry, _candidates(root, entry.weights_file, entry.weights_basename),
                         "under $" + WEIGHTS_ENV)
        if found:
            return found
    cache = cache_dir or paths.weights_cache_dir()
    cached = os.path.join(cache, entry.weights_file)
    if os.path.isfile(cached):
        return _checked(entry, [cached], "in the cache")
    if not download:
        return None
    return download_weights(entry, cached)


def locate_weights(entry):
    """Like find_weights but never downloads; None when not present locally."""
    return find_weights(entry, download=False)


def weights_status(entry):
    """-> (word for `models`, path or None): "found", "corrupt", "architecture only", "download", or
    "not found" while $ESPNET_EDGE_WEIGHTS names no folder (a run would stop with that error)."""
    if entry.architecture_only:
        return "architecture only", None
    if env_problem():
        return "not found", None
    try:
        path = locate_weights(entry)
    except UserError:
        return "corrupt", None
    return ("found", path) if path else ("download", None)


def download_weights(entry, destination, timeout=30):
    from urllib.request import urlopen

    root = os.environ.get(WEIGHTS_ENV)
    where = "put {} at {} or under ${} (now {})".format(entry.weights_basename, destination, WEIGHTS_ENV, root) \
        if root else "put {} at {} or set ${} to a folder that holds it".format(
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
