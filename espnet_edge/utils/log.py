"""One stderr handler for every module logger under ``espnet_edge`` (``logging.getLogger(__name__)``).

Lines read like the CLI's errors: ``espnet-edge CMD: MESSAGE`` for notes (INFO),
``espnet-edge CMD: warning: MESSAGE``, ``espnet-edge CMD: debug: LOGGER: MESSAGE``; without a command
(the Python API) ``espnet-edge: ...``. By default notes and warnings show, debug lines do not;
``setup(verbosity)`` (the CLI's ``--verbose``/``--quiet``) changes that. A program that configures
logging itself can silence the package's own handler with ``logging.getLogger("espnet_edge").setLevel``.
"""

import logging
import sys

ROOT = "espnet_edge"
DEFAULT_LEVEL = logging.INFO
_LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (pytest's capture, a redirect)."""

    def emit(self, record):
        try:
            text = self.format(record)
            stream = sys.stderr
            stream.write(text + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never take the program down
            self.handleError(record)


class _Formatter(logging.Formatter):
    def __init__(self):
        logging.Formatter.__init__(self)
        self.command = None

    def format(self, record):
        message = record.getMessage()
        if record.exc_info and record.levelno <= logging.DEBUG:
            message += "\n" + self.formatException(record.exc_info)
        prefix = "espnet-edge{}: ".format(" " + self.command if self.command else "")
        if record.levelno >= logging.ERROR:
            return prefix + "error: " + message
        if record.levelno >= logging.WARNING:
            return prefix + "warning: " + message
        if record.levelno <= logging.DEBUG:
            return "{}debug: {}: {}".format(prefix, record.name, message)
        return prefix + message


def _install():
    root = logging.getLogger(ROOT)
    for handler in root.handlers:
        if isinstance(handler, _StderrHandler):
            return handler
    handler = _StderrHandler()
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(DEFAULT_LEVEL)
    root.propagate = False
    return handler


_HANDLER = _install()


def setup(verbosity=0, command=None):
    """verbosity: -1 quiet (warnings and errors), 0 notes too, 1 debug lines too."""
    _HANDLER.formatter.command = command
    logging.getLogger(ROOT).setLevel(_LEVELS[max(-1, min(1, verbosity))])
