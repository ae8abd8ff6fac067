"""privacy: tutors' and students' PII encrypted at rest, keyed email hash for look-ups

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 13:30:00

Names, emails and ages become AES-GCM values with their key id (``privacy/crypto.py``), under
the keys configured when the migration runs; ``tutors.email_hmac`` holds the keyed hash that
email look-ups use. Existing plaintext is converted in place, in batches; values already
encrypted are left alone, so a re-run does nothing.

PostgreSQL: the columns become TEXT (a ciphertext is longer than the old VARCHAR limits and
an age is no longer an integer). SQLite: declared types are only affinities there — TEXT
values sit in an INTEGER or VARCHAR column unchanged — and changing them means rebuilding
the table, which with foreign keys on would fire the ON DELETE CASCADE of every child row.
So on SQLite only the new column is added (NOT NULL needs a default to be added in place).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from tutorpulse.privacy.crypto import PREFIX, keyring

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
# table -> (id column, encrypted columns)
PII = {
    "tutors": ("tutor_id", ("name", "email", "age")),
    "students": ("student_id", ("name", "age")),
}
OLD_TYPES: dict[tuple[str, str], sa.types.TypeEngine[Any]] = {
    ("tutors", "name"): sa.String(length=200),
    ("tutors", "email"): sa.String(length=320),
    ("tutors", "age"): sa.Integer(),
    ("students", "name"): sa.String(length=200),
    ("students", "age"): sa.Integer(),
}
NULLABLE = {("tutors", "age"): True}


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _set_types(to_text: bool) -> None:
    for (table, column), old in OLD_TYPES.items():
        text: sa.types.TypeEngine[Any] = sa.Text()
        new, existing = (text, old) if to_text else (old, text)
        using = f"{column}::text" if to_text else None
        if not to_text and isinstance(old, sa.Integer):
            using = f"{column}::integer"
        op.alter_column(
            table,
            column,
            type_=new,
            existing_type=existing,
            existing_nullable=NULLABLE.get((table, column), False),
            postgresql_using=using,
        )


def _rewrite(*, encrypt: bool) -> None:
    """Encrypt (or, going down, decrypt) every PII value, batch by batch, keyed by id."""
    connection = op.get_bind()
    ring = keyring()
    for table_name, (id_column, columns) in PII.items():
        hashed = table_name == "tutors" and encrypt
        table = sa.table(
            table_name,
            sa.column(id_column, sa.String()),
            *(sa.column(c, sa.Text()) for c in columns),
            *([sa.column("email_hmac", sa.String())] if hashed else []),
        )
        last = ""
        while True:
            rows = connection.execute(
                sa.select(table.c[id_column], *(sa.cast(table.c[c], sa.Text()) for c in columns))
                .where(table.c[id_column] > last)
                .order_by(table.c[id_column])
                .limit(BATCH)
            ).all()
            if not rows:
                break
            for record_id, *values in rows:
                changes: dict[str, str | None] = {}
                for column, value in zip(columns, values, strict=True):
                    context = f"{table_name}.{column}"
                    if value is None:
                        continue
                    stored = value.startswith(f"{PREFIX}:")
                    if encrypt and not stored:
                        changes[column] = ring.encrypt(value, context=context)
                    elif not encrypt and stored:
                        changes[column] = ring.decrypt(value, context=context)
                if hashed:
                    email = dict(zip(columns, values, strict=True))["email"]
                    if email.startswith(f"{PREFIX}:"):
                        email = ring.decrypt(email, context="tutors.email")
                    changes["email_hmac"] = ring.email_hmac(email)
                if changes:
                    connection.execute(
                        sa.update(table).where(table.c[id_column] == record_id).values(changes)
                    )
            last = rows[-1][0]


def upgrade() -> None:
    if _is_postgres():
        op.add_column("tutors", sa.Column("email_hmac", sa.String(length=64), nullable=True))
        _set_types(to_text=True)
        _rewrite(encrypt=True)
        op.alter_column("tutors", "email_hmac", existing_type=sa.String(length=64), nullable=False)
    else:
        with op.batch_alter_table("tutors", recreate="never") as batch_op:
            batch_op.add_column(
                sa.Column("email_hmac", sa.String(length=64), nullable=False, server_default="")
            )
        _rewrite(encrypt=True)
    op.create_index(op.f("ix_tutors_email_hmac"), "tutors", ["email_hmac"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tutors_email_hmac"), table_name="tutors")
    _rewrite(encrypt=False)
    if _is_postgres():
        _set_types(to_text=False)
        op.drop_column("tutors", "email_hmac")
    else:
        # SQLite >= 3.35 drops a column in place (no table rebuild, so no cascades).
        op.execute("ALTER TABLE tutors DROP COLUMN email_hmac")
