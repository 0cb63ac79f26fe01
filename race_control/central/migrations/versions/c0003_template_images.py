"""template images: the content-hash image store of the templates, per partner

A template that shows an image refers to it as ``/display/images/<sha256>.<ext>``; the bytes
live in the laptop's ``template_images`` (store migration 0013).  This table carries them to
the partner's other laptops (docs/sync.md#template-images): one row per partner and content
hash, written once (the push inserts with ``ON CONFLICT DO NOTHING``; the name is the hash of
the bytes, so a row never needs to change), read by the pull like the shared tables (``tx``).

Row-level security as in c0001: enabled and forced, one policy for the partners' group on
``partner_id = rc_current_partner()``, ``partner_id`` defaulting to it; the group may
``SELECT, INSERT, UPDATE`` (never ``DELETE`` or ``TRUNCATE``).  The checks keep out what
could never be one of our images: a name that is not a SHA-256 in hex, an extension other
than png/jpg, more than 10,000,000 bytes (``templates.images.MAX_IMAGE_BYTES``).  A laptop
checks the bytes again on pull (``templates.images.check_stored``) before storing them.

Revision ID: c0003
Revises: c0002
Create Date: 2026-12-01 17:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE public.template_images (
    partner_id UUID DEFAULT public.rc_current_partner() NOT NULL,
    id VARCHAR(64) NOT NULL,
    ext VARCHAR(8) NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    data BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    origin VARCHAR(64) NOT NULL,
    tx BIGINT DEFAULT pg_current_xact_id()::text::bigint NOT NULL,
    PRIMARY KEY (partner_id, id),
    CONSTRAINT ck_template_images_id CHECK (id ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_template_images_ext CHECK (ext IN ('png', 'jpg')),
    CONSTRAINT ck_template_images_size CHECK (octet_length(data) BETWEEN 1 AND 10000000)
)
"""
INDEX = "CREATE INDEX ix_template_images_partner_tx ON public.template_images (partner_id, tx)"


def _group() -> str:
    bind = op.get_bind()
    db = bind.execute(sa.text("SELECT current_database()")).scalar_one()
    return bind.dialect.identifier_preparer.quote_identifier(f"{db}_partner")


def upgrade() -> None:
    group = _group()
    op.execute(TABLE)
    op.execute(INDEX)
    op.execute("REVOKE ALL ON public.template_images FROM PUBLIC")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON public.template_images TO {group}")
    op.execute("ALTER TABLE public.template_images ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE public.template_images FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY template_images_own ON public.template_images FOR ALL TO {group}"
        " USING (partner_id = (SELECT public.rc_current_partner()))"
        " WITH CHECK (partner_id = (SELECT public.rc_current_partner()))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS public.template_images")
