"""Signal handling shared by the long-running commands and the clock pins (main thread only; elsewhere a
no-op).

A signal that was ignored when we started (``nohup`` ignores SIGHUP, shells ignore SIGINT for
background jobs) stays ignored: no helper here replaces SIG_IGN. Helpers nest: each one puts back the
handler it found, so the latest one installed is the first one asked.
"""

import contextlib
import os
import signal
import threading

# the signals that end a run: Ctrl-C, `kill`, a closed terminal or SSH session
TERMINATING = ("SIGINT", "SIGTERM", "SIGHUP")


def _install(handler, names):
    """Set ``handler`` for the named signals that exist here; -> restore() putting the old ones back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {}
    for name in names:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) != signal.SIG_IGN:
            saved[sig] = signal.signal(sig, handler)

    def restore():
        for sig, old in saved.items():
            # None: a handler installed from C, which Python cannot put back; the default is the closest
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        saved.clear()

    return restore


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt("signal {}".format(signum))


def exit_for(signum):
    """The exception a terminating signal ends the run with: KeyboardInterrupt for Ctrl-C, else
    SystemExit with the shell's status for that signal (128 + number: 143 for SIGTERM, 129 for SIGHUP)."""
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return SystemExit(128 + signum)


def termination_as_interrupt():
    """SIGTERM/SIGHUP raise KeyboardInterrupt, so every ``finally`` runs as on Ctrl-C; -> restore()."""
    return _install(_raise_interrupt, ("SIGTERM", "SIGHUP"))


def cleanup_on_termination(cleanup, names=TERMINATING):
    """Until the returned restore(): Ctrl-C, SIGTERM and SIGHUP first run ``cleanup()`` (what must not
    outlive the run is put back before any code above us sees the exception), then end the run with
    ``exit_for(signum)``. ``cleanup`` must be safe to call more than once."""
    def handler(signum, _frame):
        cleanup()
        raise exit_for(signum)

    return _install(handler, names)


def ignore_interrupts():
    """Ignore Ctrl-C and SIGTERM (while finishing what must not be cut short); -> restore()."""
    return _install(signal.SIG_IGN, ("SIGINT", "SIGTERM"))


@contextlib.contextmanager
def signals_as_interrupt():
    restore = termination_as_interrupt()
    try:
        yield
    finally:
        restore()


@contextlib.contextmanager
def deferred(names=TERMINATING):
    """Hold Ctrl-C/SIGTERM/SIGHUP while a sequence of writes that must not be cut in half runs; the
    first one that arrived is re-delivered afterwards to the handler that was there before."""
    received = []
    restore = _install(lambda signum, _frame: received.append(signum), names)
    try:
        yield
    finally:
        restore()
        if received:
            os.kill(os.getpid(), received[0])


class StopFlag(object):
    """Ctrl-C, SIGTERM and SIGHUP ask a frame loop to stop between frames (``.signal`` is set)
    instead of interrupting it mid-write; a second signal interrupts at once."""

    def __init__(self):
        self.signal = None

    def _request(self, signum, _frame):
        if self.signal is not None:
            raise KeyboardInterrupt("signal {}".format(signum))
        self.signal = signum

    def install(self):
        """-> restore()"""
        return _install(self._request, TERMINATING)
