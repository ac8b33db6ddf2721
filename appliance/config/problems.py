"""A problem in a file someone wrote (file, line, key, what to do) and the error that carries them
all; stdlib only, so pure packages that read their own files (appliance.flows) report alike."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import DialboxError


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(DialboxError):
    """One or more problems in a config file, each with its location."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
