"""Fixtures: a fresh store on SQLite and on PostgreSQL."""

from tests.store.backends import backend, sqlite_backend

__all__ = ["backend", "sqlite_backend"]
