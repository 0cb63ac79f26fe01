"""The central PostgreSQL: its schema, migrations, partners and accounts (docs/sync.md)."""
