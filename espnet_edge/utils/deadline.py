"""Calls into code we do not own that may block for good (a service that accepts and never answers)."""

import threading


def call_with_deadline(function, seconds, name="deadline"):
    """Run ``function()`` on a daemon thread for at most ``seconds``: True once it returned, False when it
    is still blocked (it is left behind); an exception it raised is raised here."""
    outcome = []

    def target():
        try:
            function()
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        return False
    if outcome[0] is not None:
        raise outcome[0]
    return True
