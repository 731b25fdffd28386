"""Errors a user can fix. The CLI prints their message on one line and exits non-zero."""


class UserError(Exception):
    """A mistake in what the user asked for or gave us: the message says what and what to do."""

    exit_code = 2


class MissingDependency(UserError):
    """An optional package or tool this command needs is not installed here."""

    exit_code = 3


def batch_error(what, done_word, total, failed, rest):
    """The one line a batch ends with when some of its ``total`` items failed (each named as a warning
    while it ran): how many, the first failure, and ``rest`` (what happened to the others)."""
    first = failed[0][1]
    if total == 1:
        return first if isinstance(first, UserError) else UserError(str(first))
    more = "; {} more named above".format(len(failed) - 1) if len(failed) > 1 else ""
    count = "none of the {} {}s".format(total, what) if len(failed) == total else \
        "{} of {} {}s".format(len(failed), total, what)
    return UserError("{} could not be {}: {}{}; {}".format(count, done_word, first, more, rest))
