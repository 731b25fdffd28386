"""Write artifacts under a temporary name in the target folder, then rename: never half a file.

A failed write (disk full, read-only or vanished folder) removes the temporary file and raises one
UserError naming the path; nothing appears under the final name.
"""

import contextlib
import errno
import json
import os
import tempfile

from espnet_edge.errors import UserError


# what a failing write reports (disk full, quota, read-only, I/O error, permissions...): turned into one line
WRITE_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ENAMETOOLONG")
    if hasattr(errno, name))
FULL_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def _reason(exc):
    return exc.strerror or str(exc)


def _inside(path, folder):
    path, folder = os.path.realpath(os.path.abspath(path)), os.path.realpath(os.path.abspath(folder))
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _elsewhere(path, flag):
    """What the user does to write elsewhere: choose another ``flag``, or for the cache (downloads and
    on-demand exports, which no flag names) point $ESPNET_EDGE_CACHE somewhere writable."""
    from espnet_edge import paths

    if _inside(path, paths.cache_dir()):
        return "set ${} to a writable folder (the cache of downloads and on-demand exports: {})".format(
            paths.CACHE_ENV, paths.cache_dir())
    return "choose another with {}".format(flag) if flag else "write elsewhere"


def cannot_write_here(path, flag):
    """UserError before any work when ``path`` is on a filesystem that cannot take files at all."""
    from espnet_edge.utils.filesystems import cannot_hold_files

    reason = cannot_hold_files(path)
    if reason:
        return UserError("cannot write {}: {}; {}".format(path, reason, _elsewhere(path, flag)))
    return None


def ensure_writable_dir(path, flag="--out"):
    """Create ``path`` if needed and check we can write there; raise UserError naming ``flag`` otherwise."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError("{} {} is a file, not a folder; choose a folder with {}".format(flag, path, flag))
    problem = cannot_write_here(path, flag)
    if problem:
        raise problem
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError("cannot create output folder {}: {}; {}".format(path, _reason(exc), _elsewhere(path, flag)))
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError("output folder {} is not writable; {}".format(path, _elsewhere(path, flag)))
    return path


def check_output_file(path, flag):
    """Before any work: ``path`` (given with ``flag``) can become a file: not a folder, parent writable."""
    if not path or path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise UserError("{} {} is a folder; give a file name (e.g. {})".format(
            flag, path, os.path.join(path.rstrip("/" + os.sep) or ".", "results.json")))
    if os.path.lexists(path) and not os.path.isfile(path) and not os.path.islink(path):
        raise UserError("{} {} exists and is not a regular file (a device, fifo or socket); give a file "
                        "name".format(flag, path))
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise UserError("{} {}: {} is a file, not a folder".format(flag, path, parent))
    problem = cannot_write_here(path, flag)
    if problem:
        raise problem
    ensure_writable_dir(parent, flag)
    return path


def check_output_dir(path, flag):
    """Before any work: ``path`` (given with ``flag``) is, or can be created as, a writable folder;
    nothing is created here."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UserError("{} {} is {}, not a folder; choose a folder with {}".format(
            flag, path, "a file" if os.path.isfile(path) else "a broken link, device or fifo", flag))
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UserError("cannot create output folder {}: {} is a file, not a folder; choose another with {}".format(
            path, existing, flag))
    problem = cannot_write_here(path, flag)
    if problem:
        raise problem
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError("output folder {} is not writable; {}".format(existing, _elsewhere(path, flag)))
    return path


def default_permissions(path):
    """mkstemp makes 0600 files; give ``path`` the usual umask-based mode."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_error(path, exc, flag=None):
    """One-line UserError for an OSError while writing ``path``, with the advice its errno (and the
    filesystem it is on) calls for: free space only when the disk is full."""
    elsewhere = _elsewhere(path, flag)
    code = getattr(exc, "errno", None)
    if code in FULL_ERRNOS:
        hint = "free some space or write elsewhere ({})".format(elsewhere)
    elif code == errno.EROFS:
        hint = "the file system is read-only; " + elsewhere
    elif code in (errno.EACCES, errno.EPERM):
        hint = "no permission to write there; " + elsewhere
    else:
        from espnet_edge.utils.filesystems import cannot_hold_files

        where = cannot_hold_files(path)
        hint = (where + "; " + elsewhere) if where else elsewhere
    return UserError("cannot write {}: {}; {}".format(path, _reason(exc), hint))


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, durable=False, flag=None):
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, else removed.
    ``durable``: fsync the file before and the folder after the rename (state that must survive a crash).
    An OSError inside (a full disk) becomes one UserError naming ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    ensure_writable_dir(folder, flag or "--out")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc, flag)
    try:
        yield tmp
        if os.path.isfile(tmp):
            default_permissions(tmp)
            if durable:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        os.replace(tmp, path)
        if durable:
            _fsync_dir(folder)
    except BaseException as exc:
        if os.path.lexists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError) and getattr(exc, "errno", None) in WRITE_ERRNOS:
            raise write_error(path, exc, flag)
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", durable=False, flag=None, encoding=None):
    with atomic_path(path, durable=durable, flag=flag) as tmp:
        with open(tmp, mode, encoding=encoding) as handle:
            yield handle


@contextlib.contextmanager
def locked(folder):
    """An exclusive flock on ``folder`` itself while the block runs: processes that would make the same
    artifact there take turns (the second then finds it made). Nothing is left behind; the kernel
    releases the lock when its holder dies."""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise UserError("cannot lock the folder {}: {}".format(folder, _reason(exc)))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_json(path, data, durable=False, flag=None):
    with atomic_open(path, "w", durable=durable, flag=flag) as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_bytes(path, data, flag=None):
    with atomic_open(path, "wb", flag=flag) as handle:
        handle.write(data)


def staging_dir(target):
    """A new hidden temporary folder beside ``target``, to fill and then hand to ``publish_dir``."""
    parent = os.path.dirname(os.path.abspath(target))
    ensure_writable_dir(parent)
    return tempfile.mkdtemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=parent)


def publish_dir(tmp, target):
    """Rename a finished staging folder into place (``target`` absent, or the empty folder new_run_dir
    reserved), with the permissions a plain mkdir would give (mkdtemp/mkstemp make 0700/0600 entries)."""
    mask = os.umask(0)
    os.umask(mask)
    for root, dirs, files in os.walk(tmp):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)
    os.chmod(tmp, 0o777 & ~mask)
    try:
        os.rename(tmp, target)   # replaces only an empty folder: a filled one raises
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
            raise UserError("{} was filled by someone else while we ran; it is never overwritten (results "
                            "left in {})".format(target, tmp))
        raise
