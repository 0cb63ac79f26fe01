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
        assert head == "0018"
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


def test_schema_head_is_the_newest_migration() -> None:
    # a new migration must move SCHEMA_HEAD too, or a file at the old head would skip it
    from alembic.script import ScriptDirectory

    from race_control.store.database import SCHEMA_HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_a_file_at_the_head_starts_without_alembic_and_an_older_one_is_upgraded(tmp_path: Path) -> None:
    import subprocess
    import sys

    from alembic import command

    from race_control.store.database import SCHEMA_HEAD, alembic_config

    db = tmp_path / "db.sqlite3"
    store = Store(db)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0016")  # a file of the release before
        store.migrate()
        with store.engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar() == SCHEMA_HEAD
    finally:
        store.close()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from race_control.store.database import Store\n"
        f"s = Store(Path({str(db)!r}))\n"
        "s.migrate()\n"
        "s.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # start-up on an up-to-date file: Alembic not even imported
