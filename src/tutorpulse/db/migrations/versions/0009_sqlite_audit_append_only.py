"""audit: append-only on SQLite too (triggers refuse UPDATE and DELETE of audit_log rows)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 13:25:00

PostgreSQL has had this since 0002 (a trigger that lets through only the retention purge's
transaction-local flag). SQLite has no session settings for a trigger to read, so the purge
(``privacy.retention.purge_audit``) drops the DELETE trigger, deletes and re-creates the
trigger from its stored SQL, all inside its own transaction: SQLite's DDL is transactional
and the write lock is held throughout, so no other connection ever runs without the trigger
and a failed purge rolls the trigger back into place.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {
    "audit_log_no_update": "UPDATE",
    "audit_log_no_delete": "DELETE",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, operation in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {operation} ON audit_log BEGIN "
            f"SELECT RAISE(ABORT, 'audit_log is append-only: {operation} refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
