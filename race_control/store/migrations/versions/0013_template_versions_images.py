"""template versions and template images

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:20:00.000000

``template_versions``: every saved version of a custom template (preview and restore any of
them, docs/templates.md#versions); each template's current body is copied in as its first
listed version (origin ``existing``), so a template saved before this migration has its
version too.  ``template_images``: imported images, re-encoded and stored once by the SHA-256
of their bytes (docs/templates.md#images).  Both are local to this laptop: not synced tables
(no outbox trigger).
"""

from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("saved_at", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("template_id", "version"),
        if_not_exists=True,
    )
    op.create_table(
        "template_images",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("ext", sa.String(length=8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
        if_not_exists=True,
    )
    op.execute(
        "INSERT OR IGNORE INTO template_versions (template_id, version, name, mode, body, saved_at, origin) "
        "SELECT id, version, name, mode, body, updated_at, 'existing' FROM templates"
    )


def downgrade() -> None:
    op.drop_table("template_images", if_exists=True)
    op.drop_table("template_versions", if_exists=True)
