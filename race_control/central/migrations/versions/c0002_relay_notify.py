"""relay wake-ups: NOTIFY a partner's channel when its screen rows change

``race-control relay`` (race_control/relay) LISTENs on ``rc_display_<partner id, no dashes>``:
after a statement that adds display events or adds/changes display sessions or templates, one
empty NOTIFY per partner whose rows it wrote (sent when the transaction commits; PostgreSQL
folds identical notifications of one transaction into one).  The payload is empty and the
channel is the partner's own, so a relay never hears about another partner's rows.  Nothing
depends on a notification arriving: the relay also polls (docs/sync.md#screens-beyond-the-venue).

Statement-level triggers with a transition table: one notification per push batch, not per
row.  PostgreSQL allows a transition table on one event per trigger, hence one trigger per
event.

Revision ID: c0002
Revises: c0001
Create Date: 2026-12-01 11:10:00
"""

from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION public.rc_notify_relay() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    p uuid;
BEGIN
    FOR p IN SELECT DISTINCT partner_id FROM rc_changed LOOP
        PERFORM pg_notify('rc_display_' || replace(p::text, '-', ''), '');
    END LOOP;
    RETURN NULL;
END
$$
"""

TRIGGERS = (
    ("display_events", "INSERT"),
    ("display_sessions", "INSERT"),
    ("display_sessions", "UPDATE"),
    ("templates", "INSERT"),
    ("templates", "UPDATE"),
)


def upgrade() -> None:
    op.execute(FUNCTION)
    for table, event in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {table}_relay_{event.lower()} AFTER {event} ON public.{table}"
            " REFERENCING NEW TABLE AS rc_changed FOR EACH STATEMENT"
            " EXECUTE FUNCTION public.rc_notify_relay()"
        )


def downgrade() -> None:
    for table, event in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_relay_{event.lower()} ON public.{table}")
    op.execute("DROP FUNCTION IF EXISTS public.rc_notify_relay()")
