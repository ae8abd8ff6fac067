"""Application-layer encryption of PII columns: AES-256-GCM, key id stored with each value.

A stored value reads ``pii1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``. The column name
is bound in as associated data, so a value copied into another column does not decrypt.
Keys come from settings (``pii_keys`` / ``pii_active_key_id``; derived from the secret key
when unset); ``rotate`` re-encrypts every value under the active key. Equality search on
an encrypted email uses a keyed hash (``email_hmac``) kept in its own column.

``EncryptedText`` / ``EncryptedInt`` are SQLAlchemy column types: code that reads and
writes the ORM or Core (the importer included) sees plain values. SQL that compares or
sorts an encrypted column in the database cannot work and must use the hash column or
happen in Python.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Table, Text, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from tutorpulse.config import Settings, get_settings

PREFIX = "pii1"
_NONCE_BYTES = 12


class PiiDecryptionError(RuntimeError):
    """A value cannot be decrypted: unknown key id, wrong column, or tampered data."""


class PiiKeyring:
    def __init__(self, keys: dict[str, bytes], active_id: str, hmac_key: bytes) -> None:
        if active_id not in keys:
            raise ValueError(f"active PII key {active_id!r} is not configured")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"PII key {key_id!r} must be 32 bytes")
            if ":" in key_id:
                raise ValueError(f"PII key id {key_id!r} must not contain ':'")
        self._keys = dict(keys)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_id = active_id
        self._hmac_key = hmac_key

    def material(self) -> tuple[dict[str, bytes], str, bytes]:
        """What rebuilds this keyring in a helper process (``PiiKeyring(*material)``)."""
        return dict(self._keys), self.active_id, self._hmac_key

    @classmethod
    def from_settings(cls, settings: Settings) -> PiiKeyring:
        return cls(
            settings.effective_pii_keys,
            settings.effective_pii_active_key_id,
            settings.effective_pii_hmac_key,
        )

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.active_id].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{PREFIX}:{self.active_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, *, context: str) -> str:
        try:
            prefix, key_id, payload = stored.split(":", 2)
        except ValueError:
            raise PiiDecryptionError("not an encrypted value") from None
        if prefix != PREFIX:
            raise PiiDecryptionError("not an encrypted value")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PiiDecryptionError(f"PII key {key_id!r} is not configured")
        raw = base64.b64decode(payload)
        try:
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except Exception:  # InvalidTag: wrong key, wrong column or altered bytes
            raise PiiDecryptionError(f"cannot decrypt a {context} value") from None

    @staticmethod
    def key_id_of(stored: str) -> str | None:
        parts = stored.split(":", 2)
        return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None

    def email_hmac(self, email: str) -> str:
        """The searchable stand-in for an email: same email, same hash; no way back."""
        normalized = email.strip().lower().encode()
        return hmac.new(self._hmac_key, b"email:" + normalized, hashlib.sha256).hexdigest()


_lock = threading.Lock()
_configured: PiiKeyring | None = None


def configure(settings: Settings) -> PiiKeyring:
    """Use these settings' keys process-wide (the app factory and the CLI call this)."""
    global _configured
    with _lock:
        _configured = PiiKeyring.from_settings(settings)
        return _configured


def install(ring: PiiKeyring) -> None:
    """Use this keyring process-wide (a helper process given its parent's keys)."""
    global _configured
    with _lock:
        _configured = ring


def keyring() -> PiiKeyring:
    global _configured
    with _lock:
        if _configured is None:
            _configured = PiiKeyring.from_settings(get_settings())
        return _configured


def email_hmac(email: str) -> str:
    return keyring().email_hmac(email)


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted; ``context`` names it (``"tutors.email"``)."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().encrypt(str(value), context=self.context)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().decrypt(value, context=self.context)


class EncryptedInt(TypeDecorator[int]):
    """An integer (a student's age) stored encrypted as text."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().encrypt(str(int(value)), context=self.context)

    def process_result_value(self, value: str | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(keyring().decrypt(value, context=self.context))


def encrypted_columns(tables: Iterable[Table]) -> list[Column[Any]]:
    return [
        column
        for table in tables
        for column in table.columns
        if isinstance(column.type, EncryptedText | EncryptedInt)
    ]


def rotate(db: Session, *, tables: Iterable[Table] | None = None, batch_size: int = 500) -> int:
    """Re-encrypt every value not under the active key; returns how many were rewritten.

    Old keys must stay configured until this has run and committed. Never commits.
    """
    if tables is None:
        from tutorpulse.db.models import Base

        tables = Base.metadata.sorted_tables
    ring = keyring()
    rewritten = 0
    for column in encrypted_columns(tables):
        table = column.table
        primary = list(table.primary_key.columns)
        raw = type_coerce(column, Text).label("raw")
        rows = db.execute(select(*primary, raw).where(column.is_not(None))).all()
        context = column.type.context  # type: ignore[attr-defined]
        for row in rows:
            stored = row.raw
            if PiiKeyring.key_id_of(stored) == ring.active_id:
                continue
            plain = ring.decrypt(stored, context=context)
            fresh = ring.encrypt(plain, context=context)
            where = [pk == getattr(row, pk.key) for pk in primary]
            db.execute(update(table).where(*where).values({column.key: type_coerce(fresh, Text)}))
            rewritten += 1
            if rewritten % batch_size == 0:
                db.flush()
    return rewritten


def refresh_email_hashes(db: Session) -> int:
    """Recompute every tutor's ``email_hmac`` under the current HMAC key; returns how many
    changed (all of them after the HMAC key changed, none otherwise). Never commits."""
    from tutorpulse.marketplace.models import Tutor

    ring = keyring()
    changed = 0
    for tutor_id, email, stored in db.execute(
        select(Tutor.tutor_id, Tutor.email, Tutor.email_hmac)
    ).all():
        fresh = ring.email_hmac(email)
        if fresh != stored:
            db.execute(update(Tutor).where(Tutor.tutor_id == tutor_id).values(email_hmac=fresh))
            changed += 1
    return changed
