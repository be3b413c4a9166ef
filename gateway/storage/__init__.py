"""Persistence: the database, its models and migrations, the exact read cache and the shared
state stores (memory, SQLite, Redis)."""
