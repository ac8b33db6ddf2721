"""Opening the store: the schema migrated, and imports a crash interrupted recovered — the one
place that needs both the connection (`db`) and the imports' recovery (`imports`), so neither
imports the other."""

from __future__ import annotations

from pathlib import Path

from appliance.store.db import Database
from appliance.store.imports import recover_imports


def open_database(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database at `path`."""
    db = Database(path)
    db.migrate()
    recover_imports(db)  # imports a crash interrupted: dropped, or rolled forward
    return db
