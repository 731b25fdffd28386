"""The one writer of clock files, and how clock pins speak.

``log=`` of every pin and writer: LOGGER (the module logger of the pin, the default), None (silent) or a
stream (tests, the self-test); sys.stderr counts as LOGGER, so `-q` is honoured. A message starting with
"warning: " or "error: " is logged at that level, "note: " and the rest at INFO.
"""

import logging
import os
import sys

from espnet_edge.errors import UserError
from espnet_edge.jetson import sysfs

logger = logging.getLogger(__name__)
LOGGER = "logger"
_LEVELS = (("warning: ", logging.WARNING), ("error: ", logging.ERROR), ("note: ", logging.INFO))


def say(log, label, message, via=None):
    """``label: message`` to ``log`` (see the module docstring); ``via``: the logger for LOGGER."""
    if log is None:
        return
    if log is LOGGER or log is sys.stderr or log is sys.__stderr__:
        level = logging.INFO
        for word, word_level in _LEVELS:
            if message.startswith(word):
                message, level = message[len(word):], word_level
        (via or logger).log(level, "%s: %s", label, message)
        return
    log.write("{}: {}\n".format(label, message))
    log.flush()


class WriteRejected(UserError):
    pass


class SysfsWriter(object):
    """Writes one value to one sysfs file; ``hook(path, value)`` runs first (a simulated kernel may raise
    OSError there); every attempted write is appended to ``journal`` as (board path, value). ``label``
    names the clock in dry-run lines; ``via`` is the logger of its debug lines (the pin's)."""

    def __init__(self, dry_run=False, log=None, hook=None, label="GPU clock", via=None):
        self.dry_run = dry_run
        self.log = log
        self.hook = hook
        self.label = label
        self.via = via or logger
        self.journal = []

    def write(self, path, value):
        shown = sysfs.unprefix(path)
        if self.dry_run:
            say(self.log, self.label, "dry-run: would write {} > {}".format(value, shown), self.via)
            return
        self.journal.append((shown, str(value)))
        self.via.debug("write %s > %s", value, shown)
        data = str(value).encode("ascii")
        try:
            if self.hook is not None:
                self.hook(path, value)
            # one unbuffered write: nothing is left pending in a buffer that a later close could flush
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                written = os.write(fd, data)
            finally:
                os.close(fd)
        except (IOError, OSError) as exc:
            raise WriteRejected("the kernel rejected writing {} to {} ({})".format(
                value, shown, exc.strerror or exc))
        if written != len(data):
            raise WriteRejected("the kernel took {} of {} bytes writing {} to {}".format(
                written, len(data), value, shown))
