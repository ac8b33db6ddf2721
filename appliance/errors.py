"""The error type a person sees: what was wrong, where, and what to do (printed without a traceback)."""

from __future__ import annotations


class DialboxError(Exception):
    """An error with a message meant for the user; the CLI prints it to stderr and exits 2."""

    exit_code = 2


class NotFound(DialboxError):
    """A named thing (campaign, contact, line, file) does not exist."""

    exit_code = 3
