"""Keep OpenCV's and FFmpeg's own log lines off the terminal while we try something we report on one
line ourselves (opening a stream or a video writer): "[tcp @ 0x...] Connection refused" and
"[ WARN:0@0.01] global cap.cpp:212 open ..." come from native code writing to file descriptor 2, which
no Python setting reaches, so the descriptor is pointed at a temporary file for the attempt.

What native code wrote is logged at debug level (`-v` shows it); any other line (e.g. one of our own
threads' warnings) is written back to stderr afterwards, so nothing of ours is lost.
"""

import contextlib
import logging
import os
import sys
import tempfile

log = logging.getLogger(__name__)
# where native libraries' lines start: FFmpeg "[tcp @ 0x...]", OpenCV "[ WARN:0@...]" / "[ERROR:0@...]"
NATIVE_PREFIXES = ("[",)


def _opencv_silent(cv2):
    logging_module = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_module is None or not hasattr(logging_module, "setLogLevel"):
        return lambda: None
    old = logging_module.getLogLevel() if hasattr(logging_module, "getLogLevel") else None
    logging_module.setLogLevel(getattr(logging_module, "LOG_LEVEL_SILENT", 0))
    return (lambda: logging_module.setLogLevel(old)) if old is not None else (lambda: None)


@contextlib.contextmanager
def native_output_quiet(what="OpenCV"):
    """Silence OpenCV's logger and file descriptor 2 for the body; -> nothing. ``what`` names the
    attempt in the debug line."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    # under -v OpenCV keeps its level: what it says lands in the debug lines below
    restore_level = _opencv_silent(cv2) if cv2 is not None and not log.isEnabledFor(logging.DEBUG) \
        else (lambda: None)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):   # no real descriptor 2 (embedded, closed): nothing to hide
        saved = None
    capture = tempfile.TemporaryFile() if saved is not None else None
    if saved is not None:
        os.dup2(capture.fileno(), 2)
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _replay(capture.read().decode("utf-8", "replace"), what)
            capture.close()
        restore_level()


def _replay(text, what):
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith(NATIVE_PREFIXES):
            log.debug("%s said: %s", what, line.strip())
        else:
            sys.stderr.write(line + "\n")
