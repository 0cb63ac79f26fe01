"""The local store: Alembic creates and re-upgrades the schema; SQLite runs in WAL mode."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from race_control.store.database import Store
from race_control.store.models import Base


def test_migrations_create_every_model_table_and_are_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite3")
    try:
        store.migrate()
        store.migrate()  # second run: nothing to do, no error
        tables = set(inspect(store.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            head = conn.execute(text("select version_num from alembic_version")).scalar()
        assert head == "0017"
    finally:
        store.close()


def test_models_match_the_migrations(tmp_path: Path) -> None:
    """A model change without a migration fails here (autogenerate finds no difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store(tmp_path / "db.sqlite3")
    try:
        store.migrate()
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        store.close()
