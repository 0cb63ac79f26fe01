"""a session's start-up epochs are not a change of the session (no new clock)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:20:00.000000

Every start-up writes each display session's epoch history (``settings.epochs``: this laptop's
own start-ups, for screens' resume).  0008's update trigger took that write for an edit of the
session: a fresh hybrid-clock value, so a restarted laptop's (possibly stale) session beat an
edit another laptop had made before the restart (docs/sync.md#the-conflict-rule).

From here an update of ``display_sessions`` that changes nothing but ``settings.epochs`` is not
recorded at all (``save_epochs`` also keeps ``updated_at``): the epochs are each laptop's own
state — a pull never takes them — and reach the central copy with the session's next real
change.  Any other change takes a new clock as before.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
NOW_S = "((julianday('now') - 2440587.5) * 86400.0)"
NOT_APPLYING = "(SELECT applying FROM sync_clock LIMIT 1) IS NOT 1"
# every column but settings.epochs is unchanged (IS: NULL-safe), and the row was recorded before
EPOCHS_ONLY = (
    "OLD.id IS NEW.id AND OLD.token IS NEW.token AND OLD.event_id IS NEW.event_id "
    "AND OLD.name IS NEW.name AND OLD.mode IS NEW.mode AND OLD.template_id IS NEW.template_id "
    "AND OLD.locations IS NEW.locations AND OLD.rules IS NEW.rules AND OLD.status IS NEW.status "
    "AND OLD.created_at IS NEW.created_at AND OLD.updated_at IS NEW.updated_at "
    "AND json_remove(OLD.settings, '$.epochs') IS json_remove(NEW.settings, '$.epochs') "
    "AND EXISTS (SELECT 1 FROM sync_rows WHERE tbl = 'display_sessions' AND key = NEW.id)"
)
RECORD = (
    "UPDATE sync_clock SET hlc = max(hlc + 1, " + NOW_MS + " << 16); "
    "INSERT INTO sync_rows (tbl, key, hlc, origin, deleted, pending, changed_at) "
    "SELECT 'display_sessions', NEW.id, hlc, device, 0, 1, " + NOW_S + " FROM sync_clock WHERE true "
    "ON CONFLICT (tbl, key) DO UPDATE SET hlc = excluded.hlc, origin = excluded.origin, "
    "deleted = excluded.deleted, pending = 1, changed_at = CASE WHEN sync_rows.pending "
    "THEN sync_rows.changed_at ELSE excluded.changed_at END;"
)


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS sync_display_sessions_update")
    op.execute(
        "CREATE TRIGGER sync_display_sessions_update AFTER UPDATE ON display_sessions "
        f"WHEN {NOT_APPLYING} AND NOT ({EPOCHS_ONLY}) BEGIN {RECORD} END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS sync_display_sessions_update")
    op.execute(
        "CREATE TRIGGER sync_display_sessions_update AFTER UPDATE ON display_sessions "
        f"WHEN {NOT_APPLYING} BEGIN {RECORD} END"
    )
