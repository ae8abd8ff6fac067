"""PII at rest: tutors' and students' names, emails and ages are stored encrypted.

Every write path encrypts (the ORM, the importer's bulk insert / COPY, its grouped updates,
the parsing helper process); every reader sees plaintext; the raw columns never hold it.
Email look-ups go through the keyed hash; key rotation re-encrypts; re-importing a file is
still a no-op; migration 0007 converts plaintext rows already stored.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Text, select, text, type_coerce
from sqlalchemy.orm import Session

from tutorpulse.auth import audit
from tutorpulse.config import Settings
from tutorpulse.db.engine import make_engine
from tutorpulse.db.migrate import upgrade
from tutorpulse.marketplace.models import Student, Tutor
from tutorpulse.privacy import crypto
from tutorpulse.privacy.subjects import export_subject

from ..conftest import NOW
from .helpers import run_import, student, table_checksums, tutor, write_jsonl
from .test_ingest_fast_paths import _force_helper

K1 = base64.b64encode(b"a" * 32).decode()
K2 = base64.b64encode(b"b" * 32).decode()
HMAC_KEY = "m" * 40
SYSTEM = audit.MachineActor("test:pii")
PLAINTEXT = ("Ada Lovelace", "ada@example.org", "Alex Doe", "Grace Hopper")


def keys(active: str, *ids: str) -> Settings:
    known = {"k1": K1, "k2": K2}
    return Settings(
        env="test",
        pii_keys={i: known[i] for i in ids},
        pii_active_key_id=active,
        pii_hmac_key=HMAC_KEY,
    )


@pytest.fixture(autouse=True)
def keyring_k1() -> Iterator[None]:
    crypto.configure(keys("k1", "k1"))
    yield
    crypto._configured = None


def people(directory: Path, **tutor_overrides: Any) -> Path:
    write_jsonl(
        directory / "tutors.jsonl",
        [
            tutor("t1", name="Ada Lovelace", email="ada@example.org", age=36) | tutor_overrides,
            tutor("t2", name="Grace Hopper", email="grace@example.org"),
        ],
    )
    write_jsonl(
        directory / "students.jsonl",
        [student("s1", name="Alex Doe", age=16), student("s2", name="Kim Young", age=11)],
    )
    return directory


def raw_pii(db: Session) -> list[str]:
    """The PII columns as stored, read as text past the decrypting column types."""
    tutors = db.execute(
        select(
            type_coerce(Tutor.name, Text),
            type_coerce(Tutor.email, Text),
            type_coerce(Tutor.age, Text),
        )
    ).all()
    students = db.execute(
        select(type_coerce(Student.name, Text), type_coerce(Student.age, Text))
    ).all()
    return [v for row in [*tutors, *students] for v in row if v is not None]


def assert_encrypted(db: Session, key_id: str = "k1", *, values: int = 9) -> None:
    stored = raw_pii(db)
    assert len(stored) == values
    for value in stored:
        assert value.startswith(f"pii1:{key_id}:"), value
        assert not any(p.lower() in value.lower() for p in PLAINTEXT)
    # And with plain SQL, not just through the model: no row holds the plaintext.
    found = db.execute(
        text("SELECT count(*) FROM tutors WHERE name = :n OR email = :e"),
        {"n": "Ada Lovelace", "e": "ada@example.org"},
    ).scalar()
    assert found == 0


def test_import_stores_ciphertext_and_readers_see_plaintext(db: Session, tmp_path: Path) -> None:
    report = run_import(db, people(tmp_path))
    assert report.counts["tutors"].inserted == 2 and report.counts["students"].inserted == 2
    assert_encrypted(db)
    db.expire_all()
    ada = db.get(Tutor, "t1")
    assert ada is not None
    assert (ada.name, ada.email, ada.age) == ("Ada Lovelace", "ada@example.org", 36)
    kid = db.get(Student, "s1")
    assert kid is not None and (kid.name, kid.age) == ("Alex Doe", 16)
    exported = export_subject(db, kind="tutor", subject_id="t1", actor=SYSTEM, now=NOW)
    assert exported["records"]["tutors"][0]["email"] == "ada@example.org"


def test_orm_writes_encrypt_and_keep_the_email_hash(db: Session) -> None:
    db.add(
        Student(
            student_id="s9",
            name="Alex Doe",
            age=16,
            grade_level="11",
            subjects_interested=[],
            source="real",
            content_hash="x" * 32,
        )
    )
    db.add(
        Tutor(
            tutor_id="t9",
            name="Ada Lovelace",
            email="ada@example.org",
            onboarding_date=NOW.date(),
            subjects=["Mathematics"],
            education_level="Master",
            location="London",
            baseline_sessions_per_week=10,
            age=36,
            source="real",
            content_hash="x" * 32,
        )
    )
    db.add(
        Tutor(
            tutor_id="t8",
            name="Grace Hopper",
            email="grace@example.org",
            onboarding_date=NOW.date(),
            subjects=[],
            education_level="PhD",
            location="NYC",
            baseline_sessions_per_week=10,
            source="real",
            content_hash="x" * 32,
        )
    )
    db.flush()
    assert_encrypted(db, values=7)
    by_hash = select(Tutor.tutor_id).where(Tutor.email_hmac == crypto.email_hmac("ADA@example.org"))
    assert db.scalar(by_hash) == "t9"
    ada = db.get(Tutor, "t9")
    assert ada is not None
    ada.email = "lovelace@example.org"  # the hash follows the email
    db.flush()
    assert db.scalar(by_hash) is None
    assert (
        db.scalar(
            select(Tutor.tutor_id).where(
                Tutor.email_hmac == crypto.email_hmac("lovelace@example.org")
            )
        )
        == "t9"
    )


def test_email_lookup_through_the_keyed_hash(db: Session, tmp_path: Path) -> None:
    run_import(db, people(tmp_path))
    hashes = db.execute(select(Tutor.tutor_id, Tutor.email_hmac).order_by(Tutor.tutor_id)).all()
    assert [h for _, h in hashes] == [
        crypto.email_hmac("ada@example.org"),
        crypto.email_hmac("grace@example.org"),
    ]
    found = db.scalar(
        select(Tutor.tutor_id).where(Tutor.email_hmac == crypto.email_hmac(" Grace@Example.org"))
    )
    assert found == "t2"


def test_reimport_is_a_no_op_and_a_changed_email_updates_its_hash(
    db: Session, tmp_path: Path
) -> None:
    first = run_import(db, people(tmp_path / "a"))
    stored = table_checksums(db)
    raw = sorted(raw_pii(db))
    again = run_import(db, people(tmp_path / "a"))
    assert again.counts["tutors"].unchanged == 2 and again.counts["students"].unchanged == 2
    assert again.counts["tutors"].inserted + again.counts["tutors"].updated == 0
    assert table_checksums(db) == stored
    assert sorted(raw_pii(db)) == raw  # not even re-encrypted
    assert first.total_rejected == again.total_rejected == 0

    moved = run_import(db, people(tmp_path / "b", email="ada@lovelace.org"))
    assert moved.counts["tutors"].updated == 1 and moved.counts["tutors"].unchanged == 1
    assert_encrypted(db)
    db.expire_all()
    ada = db.get(Tutor, "t1")
    assert ada is not None and ada.email == "ada@lovelace.org"
    assert ada.email_hmac == crypto.email_hmac("ada@lovelace.org")


def test_the_parsing_helper_encrypts_with_the_importers_keys(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keys that the helper could not derive from its environment: they must come from here.
    crypto.configure(keys("k2", "k1", "k2"))
    helped = _force_helper(monkeypatch)
    run_import(db, people(tmp_path))
    assert "tutors.jsonl" in helped
    assert_encrypted(db, "k2")
    db.expire_all()
    ada = db.get(Tutor, "t1")
    assert ada is not None and ada.name == "Ada Lovelace"
    assert ada.email_hmac == crypto.email_hmac("ada@example.org")


def test_rotation_re_encrypts_every_pii_column(db: Session, tmp_path: Path) -> None:
    run_import(db, people(tmp_path))
    crypto.configure(keys("k2", "k1", "k2"))
    rewritten = crypto.rotate(db)
    assert rewritten == 9  # 2 names + 2 emails + 1 age (tutors), 2 names + 2 ages (students)
    assert crypto.rotate(db) == 0
    assert_encrypted(db, "k2")
    crypto.configure(keys("k2", "k2"))  # the old key is gone: everything still reads
    db.expire_all()
    assert [t.name for t in db.scalars(select(Tutor).order_by(Tutor.tutor_id))] == [
        "Ada Lovelace",
        "Grace Hopper",
    ]
    assert sorted(s.age for s in db.scalars(select(Student))) == [11, 16]


def test_a_value_under_an_unknown_key_fails_with_a_clear_message(
    db: Session, tmp_path: Path
) -> None:
    run_import(db, people(tmp_path))
    crypto.configure(keys("k2", "k2"))  # k1 dropped before rotating
    db.expire_all()
    with pytest.raises(crypto.PiiDecryptionError, match="'k1' is not configured"):
        db.get(Tutor, "t1")


# ------------------------------------------------------------------ migration 0007
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (the migration is run part-way, then to the head)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'pii.db'}")
        yield engine
        engine.dispose()
        return
    from ..conftest import service_url

    base_url = service_url("TUTORPULSE_TEST_POSTGRES_URL", "PostgreSQL")
    schema = f"tp_pii_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(base_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migration_encrypts_plaintext_already_stored(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0006")
    with fresh_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tutors (tutor_id, name, email, onboarding_date, subjects,"
                " education_level, location, baseline_sessions_per_week, age, status, source,"
                " content_hash, created_at, updated_at) VALUES ('t1', 'Ada Lovelace',"
                " 'ada@example.org', '2024-09-01', '[]', 'Master', 'London', 10, 36, 'active',"
                " 'real', 'h', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO students (student_id, name, age, grade_level, subjects_interested,"
                " source, content_hash, created_at, updated_at) VALUES ('s1', 'Alex Doe', 16,"
                " '11', '[]', 'real', 'h', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            )
        )
    upgrade(fresh_engine)
    with Session(fresh_engine) as db:
        stored = raw_pii(db)
        assert len(stored) == 5
        assert all(v.startswith("pii1:k1:") for v in stored)
        assert not any(p.lower() in v.lower() for v in stored for p in PLAINTEXT)
        ada = db.get(Tutor, "t1")
        assert ada is not None
        assert (ada.name, ada.email, ada.age) == ("Ada Lovelace", "ada@example.org", 36)
        assert ada.email_hmac == crypto.email_hmac("ada@example.org")
        kid = db.get(Student, "s1")
        assert kid is not None and (kid.name, kid.age) == ("Alex Doe", 16)


def test_a_new_hmac_key_needs_the_hashes_recomputed(db: Session, tmp_path: Path) -> None:
    run_import(db, people(tmp_path))
    moved = Settings(env="test", pii_keys={"k1": K1}, pii_active_key_id="k1", pii_hmac_key="n" * 40)
    crypto.configure(moved)
    lookup = select(Tutor.tutor_id).where(Tutor.email_hmac == crypto.email_hmac("ada@example.org"))
    assert db.scalar(lookup) is None  # stale until recomputed
    assert crypto.refresh_email_hashes(db) == 2
    assert db.scalar(lookup) == "t1"
    assert crypto.refresh_email_hashes(db) == 0


def test_keys_rotate_command(tmp_path: Path) -> None:
    """``tutorpulse keys rotate`` re-encrypts a real database file under the new active key."""
    import os
    import sqlite3
    import subprocess

    from .test_auth_cli import CLI

    def cli(*args: str, keys: dict[str, str], active: str) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TUTORPULSE_")}
        environment |= {
            "TUTORPULSE_DATA_DIR": str(tmp_path),
            "TUTORPULSE_PII_KEYS": json.dumps(keys),
            "TUTORPULSE_PII_ACTIVE_KEY_ID": active,
            "TUTORPULSE_PII_HMAC_KEY": HMAC_KEY,
        }
        return subprocess.run(
            [CLI, *args], capture_output=True, text=True, env=environment, timeout=120
        )

    old = {"k1": K1}
    assert cli("db", "upgrade", keys=old, active="k1").returncode == 0
    imported = cli("import", str(people(tmp_path / "in")), "--quiet", keys=old, active="k1")
    assert imported.returncode == 0, imported.stderr
    rotated = cli("keys", "rotate", keys={"k1": K1, "k2": K2}, active="k2")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 9 values under key k2" in rotated.stdout + rotated.stderr
    with sqlite3.connect(tmp_path / "tutorpulse.db") as raw:
        stored = [v for row in raw.execute("SELECT name, email FROM tutors") for v in row]
        stored += [v for row in raw.execute("SELECT name, age FROM students") for v in row]
        actions = [a for (a,) in raw.execute("SELECT action FROM audit_log")]
    assert len(stored) == 8 and all(v.startswith("pii1:k2:") for v in stored)
    assert "pii.rotate_keys" in actions
    again = cli("keys", "rotate", keys={"k2": K2}, active="k2")  # old key gone: nothing left
    assert again.returncode == 0 and "re-encrypted 0 values" in again.stdout + again.stderr
