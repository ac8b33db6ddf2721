"""Call recordings (SPEC O9, #24): the recorder that writes a call's two sides to a file while the
call goes on (recorder.py), the encoders it writes with (writers.py), and retention by age and
by disk budget (retention.py). The rows are appliance/store/recordings.py's."""

from __future__ import annotations

from pathlib import Path

from appliance.config import DialboxConfig


def recordings_directory(config: DialboxConfig) -> Path:
    """Where recordings go: `recordings.directory`, else `recordings` beside the database."""
    if config.recordings.directory is not None:
        return Path(config.recordings.directory)
    database = Path(str(config.database))
    if str(config.database) == ":memory:":
        return Path("recordings").resolve()
    return database.parent / "recordings"
