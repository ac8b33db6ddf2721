"""Passwords the config names but does not hold: a file (its first line) or an environment
variable — the SMTP relay's, the bounce mailbox's and each external list's (#26)."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import DialboxError


def read_password(
    where: str, env: str | None, file: Path | None, error: type[DialboxError] = DialboxError
) -> str | None:
    """The password from `file` (its first line, stripped), else from the variable `env`;
    None when neither is set. `error` (naming `where`, e.g. 'email.relay') when the file cannot
    be read or the variable is not set."""
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise error(
                f"{where}: cannot read a password from password_file {file}:"
                f" {getattr(exc, 'strerror', None) or exc}"
            ) from None
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise error(f"{where}: password_env: the environment variable {env} is not set")
        return value
    return None
