"""provider accounts, links and sync cursors

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:00:00.000000

Provider accounts (no secrets: those live in the secret store), the link of each provider
registration to a local participant with its status and raw payload, and per event/account
the cursor of the next incremental pull (docs/providers.md).
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provider_accounts',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('base_url', sa.String(length=500), nullable=False),
        sa.Column('credential_fields', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'provider_links',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('provider_event_id', sa.String(length=64), nullable=False),
        sa.Column('registration_id', sa.String(length=64), nullable=False),
        sa.Column('participant_id', sa.String(length=36), nullable=False),
        sa.Column('account_id', sa.String(length=36), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('raw', sa.JSON(), nullable=False),
        sa.Column('synced_at', sa.Float(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('event_id', 'provider', 'provider_event_id', 'registration_id'),
    )
    op.create_index('ix_provider_links_participant', 'provider_links', ['participant_id'], unique=False)
    op.create_table(
        'provider_syncs',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('account_id', sa.String(length=36), nullable=False),
        sa.Column('provider_event_id', sa.String(length=64), nullable=False),
        sa.Column('cursor', sa.JSON(), nullable=False),
        sa.Column('last_sync_at', sa.Float(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('event_id', 'account_id', 'provider_event_id'),
    )


def downgrade() -> None:
    op.drop_table('provider_syncs')
    op.drop_index('ix_provider_links_participant', table_name='provider_links')
    op.drop_table('provider_links')
    op.drop_table('provider_accounts')
