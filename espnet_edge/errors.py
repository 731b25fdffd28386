"""Errors a user can fix. The CLI prints their message on one line and exits non-zero."""


class UserError(Exception):
    """A mistake in what the user asked for or gave us: the message says what and what to do."""

    exit_code = 2


class MissingDependency(UserError):
    """An optional package or tool this command needs is not installed here."""

    exit_code = 3
