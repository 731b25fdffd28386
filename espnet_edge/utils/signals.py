"""Signal handling shared by the long-running commands (main thread only; elsewhere a no-op).

A signal that was ignored when we started (``nohup`` ignores SIGHUP, shells ignore SIGINT for
background jobs) stays ignored: no helper here replaces SIG_IGN.
"""

import contextlib
import os
import signal
import threading


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
            signal.signal(sig, old)

    return restore


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt("signal {}".format(signum))


def termination_as_interrupt():
    """SIGTERM/SIGHUP raise KeyboardInterrupt, so every ``finally`` runs as on Ctrl-C; -> restore()."""
    return _install(_raise_interrupt, ("SIGTERM", "SIGHUP"))


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
def deferred(names=("SIGINT", "SIGTERM", "SIGHUP")):
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
        return _install(self._request, ("SIGINT", "SIGTERM", "SIGHUP"))
