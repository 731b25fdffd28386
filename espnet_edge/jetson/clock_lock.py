"""One owner per clock: an fcntl lock file under the prefixed /run/lock (or /tmp) holding the owner's PID.

The kernel drops the lock when its process dies (SIGKILL included), so a lock is never left stale; a
second run is refused with a one-line error naming the holder.
"""

import errno
import fcntl
import os

from espnet_edge.errors import UserError
from espnet_edge.jetson import sysfs


class ClockLock(object):
    """``paths``: the lock file's candidate board paths (first that can be created wins); ``what``: the
    clock's name in messages ("GPU clock", "memory clock")."""

    def __init__(self, paths, what):
        self.handle = None
        self.path = None
        self.paths = paths
        self.what = what

    def acquire(self):
        last_error = None
        for board_path in self.paths:
            path = sysfs.path(board_path)
            folder = os.path.dirname(path)
            try:
                if not os.path.isdir(folder):
                    os.makedirs(folder)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                last_error = exc
                continue
            handle = os.fdopen(fd, "r+")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    handle.close()
                    raise
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise UserError("the {} is held by another espnet-edge run (PID {}, lock {}); wait for "
                                "it to finish or stop it".format(self.what, holder, sysfs.unprefix(path)))
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self.handle, self.path = handle, path
            return self
        raise UserError("cannot create a {} lock file in {}: {}".format(
            self.what, " or ".join(self.paths), last_error))

    def release(self):
        """Give the clock up (safe to call when not held, and more than once)."""
        if self.handle is not None:
            try:
                self.handle.seek(0)
                self.handle.truncate()
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            finally:
                self.handle.close()
                self.handle = None
