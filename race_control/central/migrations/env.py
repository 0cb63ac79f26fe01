"""Alembic environment of the central PostgreSQL (``central.admin.migrate`` hands in the connection).

Its version table is ``central_alembic_version`` (not ``alembic_version``), so the central
schema's history never mixes with anything else kept in the same database.
"""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "central_alembic_version"

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` CLI use: build an engine from the URL
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=None, version_table=VERSION_TABLE)
            with context.begin_transaction():
                context.run_migrations()
        engine.dispose()
        return
    context.configure(connection=connection, target_metadata=None, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
