"""``export-subject``, ``erase-subject`` and ``retention run`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tutorpulse.auth.models import AuditEntry
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.marketplace.models import Tutor

from ..conftest import SAMPLE_DIR
from .test_auth_cli import run


def test_subject_requests_and_retention(tmp_path: Path) -> None:
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    assert run("import", str(SAMPLE_DIR), "--quiet", data_dir=tmp_path).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'tutorpulse.db'}")
    with make_session_factory(engine)() as db:
        tutor_id = db.scalar(select(Tutor.tutor_id).order_by(Tutor.tutor_id))
    assert tutor_id

    both = run("export-subject", "--tutor", tutor_id, "--student", "x", data_dir=tmp_path)
    assert both.returncode == 2
    out = tmp_path / "export.json"
    exported = run("export-subject", "--tutor", tutor_id, "--out", str(out), data_dir=tmp_path)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(out.read_text())
    assert data["subject"] == {"kind": "tutor", "id": tutor_id}
    assert data["records"]["tutors"][0]["tutor_id"] == tutor_id

    refused = run("erase-subject", "--tutor", tutor_id, data_dir=tmp_path)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    erased = run("erase-subject", "--tutor", tutor_id, "--yes", data_dir=tmp_path)
    assert erased.returncode == 0, erased.stderr
    missing = run("export-subject", "--tutor", tutor_id, data_dir=tmp_path)
    assert missing.returncode == 1 and "not found" in missing.stderr

    with make_session_factory(engine)() as db:
        before = set(db.scalars(select(AuditEntry.action)))
    assert {"subject.export", "subject.erase"} <= before

    # Far in the future: those audit entries are past the 3-year retention and are purged,
    # by a purge that is itself audited.
    retention = run("retention", "run", "--as-of", "2040-01-01", data_dir=tmp_path)
    assert retention.returncode == 0, retention.stderr
    report = json.loads(retention.stdout)
    assert report["records_mode"] == "anonymize" and report["cutoffs"]["records"].startswith("2033")
    with make_session_factory(engine)() as db:
        actions = set(db.scalars(select(AuditEntry.action)))
        assert db.get(Tutor, tutor_id) is None
    assert {"audit.purge", "retention.run"} <= actions
    assert "subject.export" not in actions
    engine.dispose()
