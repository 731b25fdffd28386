"""Scheduling priority of the calling thread (Linux keeps a nice value per thread)."""

import logging
import os

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10  # a thread at nice 10 gets about a tenth of a core that a nice-0 thread also wants


def lower_this_thread(nice=BACKGROUND_NICE):
    """Raise the calling thread's nice value to ``nice`` (never lowers it); -> True when it is set.
    On Linux ``setpriority(PRIO_PROCESS, 0, ...)`` changes only the calling thread; elsewhere (or where
    the call is refused) nothing changes."""
    if not hasattr(os, "setpriority") or not os.uname()[0] == "Linux":
        return False
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        return True
    except OSError as exc:
        log.debug("could not lower the priority of this thread: %s", exc)
        return False
