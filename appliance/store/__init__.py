"""The SQLite store (apsw): schema, migrations, queries and transactions."""

from appliance.store.db import Database, SchemaTooNew
from appliance.store.opening import open_database

__all__ = ["Database", "SchemaTooNew", "open_database"]
