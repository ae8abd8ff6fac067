"""argon2id password hashes."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id baseline (46 MiB, 2 passes, 1 lane): memory-hard, ~70 ms per login on
# one core, so that a burst of logins cannot starve a small server.
_hasher = PasswordHasher(time_cost=2, memory_cost=46 * 1024, parallelism=1)
# Verified when the account does not exist, so that timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash("not a real password, only spends time")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
