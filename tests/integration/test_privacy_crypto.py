"""PII encryption: AES-GCM values with their key id, keyed email hashes, key rotation."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, type_coerce
from sqlalchemy.orm import Session

from tutorpulse.config import Settings
from tutorpulse.privacy import crypto
from tutorpulse.privacy.crypto import EncryptedInt, EncryptedText, PiiDecryptionError, PiiKeyring

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()
HMAC_KEY = "h" * 40


def settings_with(keys: dict[str, str], active: str) -> Settings:
    return Settings(env="test", pii_keys=keys, pii_active_key_id=active, pii_hmac_key=HMAC_KEY)


@pytest.fixture(autouse=True)
def _restore_keyring() -> Iterator[None]:
    yield
    crypto._configured = None


def probe_table() -> Table:
    return Table(
        "pii_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("email", EncryptedText("pii_probe.email")),
        Column("email_hmac", String(64), index=True),
        Column("age", EncryptedInt("pii_probe.age")),
    )


def test_values_carry_their_key_id_and_are_bound_to_their_column() -> None:
    ring = PiiKeyring.from_settings(settings_with({"k1": K1}, "k1"))
    stored = ring.encrypt("ada@example.org", context="tutors.email")
    assert stored.startswith("pii1:k1:") and "ada" not in stored
    assert ring.encrypt("ada@example.org", context="tutors.email") != stored  # fresh nonce
    assert ring.decrypt(stored, context="tutors.email") == "ada@example.org"
    with pytest.raises(PiiDecryptionError):
        ring.decrypt(stored, context="students.name")
    tampered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]
    with pytest.raises(PiiDecryptionError):
        ring.decrypt(tampered, context="tutors.email")
    other = PiiKeyring.from_settings(settings_with({"k2": K2}, "k2"))
    with pytest.raises(PiiDecryptionError, match="k1"):
        other.decrypt(stored, context="tutors.email")


def test_email_hash_is_stable_keyed_and_case_insensitive() -> None:
    ring = PiiKeyring.from_settings(settings_with({"k1": K1}, "k1"))
    assert ring.email_hmac("Ada@Example.org ") == ring.email_hmac("ada@example.org")
    assert ring.email_hmac("ada@example.org") != ring.email_hmac("bob@example.org")
    other = PiiKeyring({"k1": b"1" * 32}, "k1", hmac_key=b"another key that is long enough!!")
    assert other.email_hmac("ada@example.org") != ring.email_hmac("ada@example.org")


def test_columns_encrypt_transparently_and_rotate(db: Session) -> None:
    crypto.configure(settings_with({"k1": K1}, "k1"))
    table = probe_table()
    table.create(db.connection())
    rows = [
        {"id": 1, "email": "ada@example.org", "age": 12},
        {"id": 2, "email": "bob@example.org", "age": 40},
    ]
    for row in rows:
        row["email_hmac"] = crypto.email_hmac(str(row["email"]))
    db.execute(insert(table), rows)
    raw = db.execute(select(type_coerce(table.c.email, Text), type_coerce(table.c.age, Text))).all()
    assert all(e.startswith("pii1:k1:") and a.startswith("pii1:k1:") for e, a in raw)
    assert all("example.org" not in e for e, _ in raw)
    assert db.execute(select(table.c.email, table.c.age).order_by(table.c.id)).all() == [
        ("ada@example.org", 12),
        ("bob@example.org", 40),
    ]
    found = db.scalar(
        select(table.c.id).where(table.c.email_hmac == crypto.email_hmac("BOB@example.org"))
    )
    assert found == 2

    # Rotation: a new active key, the old one still configured until the rewrite is done.
    crypto.configure(settings_with({"k1": K1, "k2": K2}, "k2"))
    assert crypto.rotate(db, tables=[table]) == 4
    assert crypto.rotate(db, tables=[table]) == 0
    raw = db.execute(select(type_coerce(table.c.email, Text))).scalars().all()
    assert all(value.startswith("pii1:k2:") for value in raw)
    crypto.configure(settings_with({"k2": K2}, "k2"))
    assert db.scalar(select(table.c.email).where(table.c.id == 1)) == "ada@example.org"
