"""The admin "system" page: its figures (same sources as /metrics and /readyz) on both
backends, the page served to admins only, and the texts of its checks and tiles."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tutorpulse.auth.models import User
from tutorpulse.config import Settings
from tutorpulse.events import service as events
from tutorpulse.interventions.models import Alert
from tutorpulse.observability.system import SystemStatus, system_status
from tutorpulse.ui.admin_system import age_text, check_text, tiles

from ..conftest import NOW, SAMPLE_DIR
from .helpers import run_import
from .test_auth_fixtures import (  # noqa: F401  (fixtures)
    app_fixture,
    bearer,
    client_fixture,
    clock_fixture,
    people_fixture,
    session_token,
)


def test_an_empty_system(db: Session) -> None:
    status = system_status(db, settings=Settings(env="test"), now=NOW)
    assert status.checks == {"database": "ok"}
    assert (status.accepted_total, status.queue_depth, status.sla_breaches_open) == (0, 0, 0)
    assert status.last_runs == {} and status.champion_auc is None
    assert status.ingest_rate_per_minute == 0


def test_figures_match_what_metrics_reports(db: Session) -> None:
    run_import(db, SAMPLE_DIR)  # 403 records accepted, 8 tutors marked dirty (as /metrics)
    events.emit(db, topic="job.completed", payload={"job": "full"}, now=NOW - timedelta(minutes=3))
    events.emit(db, topic="job.completed", payload={"job": "full"}, now=NOW - timedelta(minutes=1))
    events.emit(db, topic="job.completed", payload={"job": "sla"}, now=NOW)
    db.add(Alert(tutor_id="tutor_001", rule="sla_breach", severity="high", raised_at=NOW))
    db.flush()
    status = system_status(db, settings=Settings(env="test"), now=NOW + timedelta(minutes=30))
    assert status.accepted_total == 403
    assert status.accepted_last_hour == 403  # the import ran at NOW, within the hour
    assert status.ingest_rate_per_minute == 403 / 60
    assert status.queue_depth == 8
    assert status.pipeline_lag_seconds is not None and status.pipeline_lag_seconds >= 30 * 60
    assert status.sla_breaches_open == 1
    assert status.last_runs == {"full": NOW - timedelta(minutes=1), "sla": NOW}
    later = system_status(db, settings=Settings(env="test"), now=NOW + timedelta(hours=2))
    assert later.accepted_last_hour == 0 and later.accepted_total == 403


def test_check_and_tile_texts() -> None:
    assert check_text("ok") == ("OK", "text-green-800")
    assert check_text("degraded: ConnectionError") == (
        "Degraded — ConnectionError",
        "text-amber-800",
    )
    assert check_text("error: OperationalError")[0] == "Down — OperationalError"
    assert age_text(None) == "—" and age_text(12.4) == "12 s" and age_text(7200) == "2 h 0 min"
    status = SystemStatus(
        checks={"database": "ok"}, accepted_last_hour=120, rejected_last_hour=3, queue_depth=5
    )
    shown = {label: value for label, value, _ in tiles(status)}
    assert shown["Ingest rate"] == "2.0 /min"
    assert shown["Rejects"] == "3" and shown["Dirty queue"] == "5"
    assert shown["Champion AUC (30 d)"] == "—"


def test_the_page_is_for_admins_only(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    admin = bearer(session_token(db, people["admin"]))
    page = client.get("/admin/system", headers=admin, follow_redirects=False)
    assert page.status_code == 200
    assert "<title>System · tutorpulse</title>" in page.text
    assert "/admin/system" in client.get("/tutors", headers=admin).text
    manager = bearer(session_token(db, people["ops_manager"]))
    assert client.get("/admin/system", headers=manager, follow_redirects=False).status_code == 403
    assert "/admin/system" not in client.get("/tutors", headers=manager).text
    anonymous = client.get("/admin/system", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
