"""The SQLite store (apsw): schema, migrations, queries and transactions."""

from appliance.store.db import Database, SchemaTooNew, open_database

__all__ = ["Database", "SchemaTooNew", "open_database"]
