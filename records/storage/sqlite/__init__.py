"""The embedded record store: SQLite in WAL mode with durable (fsynced) commits."""
