"""The web app in Debian's Chromium against a live server: ops home with one-click assignment
and live updates, the tutor portal without churn figures (page and network), the student
feedback link raising the poor-first-session flag, and mobile screenshots."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.auth import service as auth_service
from tutorpulse.auth.models import AuditEntry
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.dashboard.feedback import link_for_session
from tutorpulse.db.engine import make_engine, make_session_factory
from tutorpulse.db.migrate import upgrade
from tutorpulse.ingest.files import import_directory, plan_directory
from tutorpulse.interventions.models import Intervention
from tutorpulse.marketplace.models import StudentFeedback, TutoringSession
from tutorpulse.metrics.models import TutorFlag
from tutorpulse.pipeline.service import process_dirty, run_pipeline

from ..conftest import SAMPLE_DIR
from .conftest import _free_port

pytestmark = pytest.mark.browser

AS_OF = date(2025, 1, 19)
NOW = datetime(2025, 1, 19, 23, 0, tzinfo=UTC)
SECRET = "e2e-secret-key-0123456789abcdef0123456789"
INGEST_TOKEN = "e2e-ingest-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"
CRITICAL_TUTOR = "tutor_002"
OWN_TUTOR = "tutor_001"
WAIT_MS = 20_000
CHURN_PATTERNS = re.compile(
    r"churn|risk_level|risk level|probabilit|score_source|window_\d+day|contributing_factors",
    re.IGNORECASE,
)


@dataclass
class Site:
    url: str
    factory: sessionmaker[Session]
    feedback_url: str
    feedback_tutor: str
    task_id: int


def _seed(factory: sessionmaker[Session]) -> tuple[str, str, int]:
    with factory() as db:
        import_directory(
            db, plan=plan_directory(SAMPLE_DIR), now=NOW, chunk_size=500, checkpoint=db.commit
        )
        run_pipeline(db, as_of=AS_OF, now=NOW)
        task = Intervention(
            tutor_id=CRITICAL_TUTOR,
            intervention_type="H1",
            mode="human",
            trigger_reason="churn score above 50 for 7+ days",
            evidence={},
            recommended_date=NOW - timedelta(hours=2),
            owner_role="ops_manager",
            status="pending",
            holdout=False,
            risk_level="Critical",
            churn_score=90,
            due_date=NOW + timedelta(hours=22),
        )
        db.add(task)
        for email, role, tutor_id in (
            ("sarah@example.org", "ops_manager", None),
            ("emily@example.org", "tutor", OWN_TUTOR),
        ):
            auth_service.create_user(
                db,
                email=email,
                role=role,
                password=PASSWORD,
                display_name=email.split("@")[0].title(),
                tutor_id=tutor_id,
                actor=None,
                now=NOW,
            )
        flagged = set(
            db.scalars(
                select(TutorFlag.tutor_id).where(
                    TutorFlag.flag_type == "poor_first_session", TutorFlag.cleared_on.is_(None)
                )
            )
        )
        answered = set(db.scalars(select(StudentFeedback.session_id)))
        session = next(
            s
            for s in db.scalars(
                select(TutoringSession)
                .where(
                    TutoringSession.session_number == 1,
                    TutoringSession.status == "completed",
                    TutoringSession.scheduled_start > NOW - timedelta(days=6),
                )
                .order_by(TutoringSession.scheduled_start.desc())
            )
            if s.session_id not in answered and s.tutor_id not in flagged
        )
        link = link_for_session(db, secret_key=SECRET, session_id=session.session_id)
        db.commit()
        return link, session.tutor_id, task.intervention_id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("ui")
    settings = Settings(env="test", data_dir=data_dir, secret_key=SECRET, ingest_token=INGEST_TOKEN)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    link, feedback_tutor, task_id = _seed(factory)
    app = create_app(settings, session_factory=factory, clock=FixedClock(NOW))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    url = f"http://127.0.0.1:{port}"
    yield Site(url, factory, url + link, feedback_tutor, task_id)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _context(browser: Any, **kwargs: Any) -> Any:
    return browser.new_context(timezone_id="Europe/Paris", locale="en-GB", **kwargs)


def _audited(db: Session, action: str, target_id: str) -> list[tuple[int | None, str | None]]:
    rows = db.execute(
        select(AuditEntry.actor_user_id, AuditEntry.ip).where(
            AuditEntry.action == action, AuditEntry.target_id == target_id
        )
    ).all()
    return [(actor, ip) for actor, ip in rows]


def _login(page: Any, site: Site, email: str, next_path: str = "/") -> None:
    page.goto(f"{site.url}/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(site.url) + re.escape(next_path) + r"(\?.*)?$"))


def test_manager_assigns_a_critical_alert_in_one_click(
    browser: Any, site: Site, artifacts_dir: Path
) -> None:
    context = _context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    _login(page, site, "sarah@example.org")
    alert = page.locator("[data-alert]").filter(has_text="Sample Tutor 2")
    alert.wait_for(timeout=WAIT_MS)
    assert "Critical" in alert.inner_text()
    mine = page.locator("[data-task]")
    assert mine.count() == 0
    alert.get_by_role("button", name=re.compile("Assign .* to me")).click()
    task = page.locator(f'[data-task="{site.task_id}"]')
    task.wait_for(timeout=WAIT_MS)
    assert "Manager coaching session" in task.inner_text()
    assert "due in" in task.inner_text()
    page.get_by_text("Assigned to Sarah").wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(artifacts_dir / "ops-home.png"), full_page=True)
    with site.factory() as db:
        assigned = db.get(Intervention, site.task_id)
        assert assigned is not None and assigned.assigned_to is not None
        # The click is audited: who (the signed-in manager), which task, from where.
        assert _audited(db, "intervention.assign", str(site.task_id)) == [
            (assigned.assigned_to, "127.0.0.1")
        ]
    hosts = {urlparse(u).hostname for u in requested if u.startswith("http")}
    assert hosts == {"127.0.0.1"}, hosts  # no CDN: every asset is served locally
    context.close()


def _new_struggling_tutor() -> dict[str, list[dict[str, Any]]]:
    tutor = {
        "tutor_id": "tutor_live",
        "name": "Live Update Tutor",
        "email": "live@example.org",
        "onboarding_date": "2025-01-05",
        "subjects": ["Chemistry"],
        "education_level": "Master",
        "location": "Lyon, FR",
        "baseline_sessions_per_week": 10,
    }
    sessions = []
    for i in range(12):
        start = datetime(2025, 1, 13, 9, tzinfo=UTC) + timedelta(hours=12 * i)
        missed = i % 2 == 0
        sessions.append(
            {
                "session_id": f"live_{i}",
                "tutor_id": "tutor_live",
                "student_id": "student_001",
                "session_number": 1 if i < 4 else i,
                "scheduled_start": start.isoformat(),
                "actual_start": None if missed else (start + timedelta(minutes=15)).isoformat(),
                "duration_minutes": 60,
                "subject": "Chemistry",
                "session_type": "1-on-1",
                "tutor_initiated_reschedule": True,
                "no_show": missed,
                "late_start_minutes": 0 if missed else 15,
                "engagement_score": 0.0 if missed else 0.2,
                "student_rating": None if missed else 1,
                "student_feedback_text": None,
                "learning_objectives_met": False,
                "technical_issues": False,
            }
        )
    return {"tutors": [tutor], "sessions": sessions}


def test_live_update_after_an_ingest_without_reload(browser: Any, site: Site) -> None:
    context = _context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _login(page, site, "sarah@example.org")
    page.locator("[data-alert]").first.wait_for(timeout=WAIT_MS)
    assert page.get_by_text("Live Update Tutor").count() == 0
    page.evaluate("window.__noReload = 'still here'")
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    for kind, records in _new_struggling_tutor().items():
        response = httpx.post(
            f"{site.url}/api/v1/ingest/{kind}", json=records, headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.text
    with site.factory() as db:  # what the pipeline worker does with the dirty tutors
        assert process_dirty(db, as_of=AS_OF, now=NOW) >= 1
        db.commit()
    page.locator("[data-alert]").filter(has_text="Live Update Tutor").wait_for(timeout=WAIT_MS)
    assert page.evaluate("window.__noReload") == "still here"
    context.close()


def test_tutor_sees_tier_but_no_churn_figures(
    browser: Any, site: Site, artifacts_dir: Path
) -> None:
    context = _context(
        browser,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    received: list[str] = []

    def on_response(response: Any) -> None:
        try:
            received.append(response.text())
        except Exception:  # redirects and aborted requests carry no body
            return

    def on_socket(socket: Any) -> None:
        socket.on("framereceived", lambda frame: received.append(str(frame)))

    page.on("response", on_response)
    page.on("websocket", on_socket)
    _login(page, site, "emily@example.org", "/portal")
    tier = page.get_by_test_id("tier")
    tier.wait_for(timeout=WAIT_MS)
    assert tier.inner_text().strip() in {
        "Exemplary",
        "Strong",
        "Developing",
        "Needs Attention",
        "At Risk",
    }
    page.get_by_text("What students said").wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / "tutor-portal-375.png"), full_page=True)
    assert not CHURN_PATTERNS.search(page.content())
    leaks = [text[:200] for text in received if CHURN_PATTERNS.search(text)]
    assert leaks == []
    # Another tutor's profile and the staff pages are refused on the server.
    other = page.goto(f"{site.url}/tutors/{CRITICAL_TUTOR}")
    assert other is not None and other.status == 404
    page.goto(f"{site.url}/tutors")
    assert page.url.endswith("/portal")
    assert page.request.get(f"{site.url}/api/v1/kpis").status == 403
    own = page.request.get(f"{site.url}/api/v1/tutors/{OWN_TUTOR}")
    assert own.status == 200 and not CHURN_PATTERNS.search(own.text())
    context.close()


def test_student_negative_first_session_raises_the_flag(
    browser: Any, site: Site, artifacts_dir: Path
) -> None:
    context = _context(
        browser,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.goto(site.feedback_url)
    page.get_by_text("Your tutor sees your ratings but not your name").wait_for(timeout=WAIT_MS)
    page.get_by_test_id("overall").locator("i").nth(1).click()  # two stars
    for key in ("subject_knowledge", "communication", "patience", "engagement", "helpfulness"):
        page.get_by_test_id(key).locator("i").nth(2).click()
    page.get_by_text("No", exact=True).click()
    page.get_by_test_id("area-late").click()
    page.get_by_test_id("area-unclear").click()
    text = "Started late and the explanations went too fast."
    page.get_by_label("Anything else? (optional)").fill(text)
    page.get_by_test_id("counter").filter(has_text=f"{len(text)}/500").wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(artifacts_dir / "feedback-375.png"), full_page=True)
    page.get_by_test_id("submit").click()
    page.get_by_text("Thank you! Your feedback helps your tutor grow.").wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(artifacts_dir / "feedback-375-sent.png"), full_page=True)
    page.goto(site.feedback_url)
    page.get_by_text("We already have your feedback for this session").wait_for(timeout=WAIT_MS)
    context.close()
    with site.factory() as db:
        (submitted,) = db.execute(
            select(AuditEntry.actor_label, AuditEntry.ip).where(
                AuditEntry.action == "feedback.submit"
            )
        ).all()
        assert submitted.actor_label.startswith("feedback-link:session:")
        assert submitted.ip == "127.0.0.1"

    staff = _context(browser, viewport={"width": 1400, "height": 1000})
    manager = staff.new_page()
    _login(manager, site, "sarah@example.org", f"/tutors/{site.feedback_tutor}")
    flag = manager.locator('[data-flag="poor_first_session"]')
    flag.wait_for(timeout=WAIT_MS)
    assert "Poor first-session experience" in flag.inner_text()
    manager.screenshot(path=str(artifacts_dir / "tutor-profile.png"), full_page=False)
    note = "Reached out after the first-session feedback; pairing with a mentor."
    manager.get_by_label("Add a note").fill(note)
    manager.get_by_test_id("save-note").click()
    manager.get_by_text(note).wait_for(timeout=WAIT_MS)
    staff.close()
    with site.factory() as db:
        (note_entry,) = _audited(db, "tutor.note_added", site.feedback_tutor)
        assert note_entry[1] == "127.0.0.1"
        assert _audited(db, "tutor.read", site.feedback_tutor), "the profile view is audited"


def test_analytics_page_renders_charts(browser: Any, site: Site, artifacts_dir: Path) -> None:
    context = _context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _login(page, site, "sarah@example.org", "/analytics")
    section = page.locator('[data-section="tier_distribution"]')
    section.locator("canvas").first.wait_for(timeout=WAIT_MS)
    with page.expect_download() as download:
        section.get_by_role("button", name=re.compile("Download")).click()
    assert download.value.suggested_filename == "tier_distribution.csv"
    with site.factory() as db:
        (export,) = _audited(db, "analytics.export", "tier_distribution")
        assert export[0] is not None and export[1] == "127.0.0.1"
    page.locator('[data-section="model_card"]').get_by_text("no model trained yet").wait_for(
        timeout=WAIT_MS
    )
    page.screenshot(path=str(artifacts_dir / "analytics.png"), full_page=True)
    context.close()


def test_task_list_and_home_share_the_task_actions(browser: Any, site: Site) -> None:
    """Assign on the task list, close from the home page's outcome menu; the pager's range."""
    with site.factory() as db:
        task = Intervention(
            tutor_id=CRITICAL_TUTOR,
            intervention_type="H2",
            mode="human",
            trigger_reason="e2e: shared task actions",
            evidence={},
            recommended_date=NOW - timedelta(days=12),
            owner_role="ops_manager",
            status="pending",
            holdout=False,
            risk_level="Critical",
            churn_score=90,
            due_date=NOW - timedelta(days=10),  # the most overdue: first on page 1
        )
        db.add(task)
        db.commit()
        task_id = task.intervention_id
    context = _context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _login(page, site, "sarah@example.org", "/interventions")
    page.get_by_text("Unassigned", exact=True).click()
    row = page.locator(f'[data-task="{task_id}"]')
    row.get_by_role("button", name="Assign to me").click()
    page.get_by_text("Saved").first.wait_for(timeout=WAIT_MS)
    with site.factory() as db:
        assigned = db.get(Intervention, task_id)
        assert assigned is not None and assigned.assigned_to is not None

    page.goto(f"{site.url}/")
    mine = page.locator(f'[data-task="{task_id}"]')
    mine.wait_for(timeout=WAIT_MS)
    assert "overdue by" in mine.inner_text()
    mine.get_by_role("button", name="Outcome").click()
    page.get_by_text("Improved", exact=True).click()
    page.get_by_text("Outcome recorded: Improved").wait_for(timeout=WAIT_MS)
    with site.factory() as db:
        closed = db.get(Intervention, task_id)
        assert closed is not None and (closed.status, closed.outcome) == ("completed", "improved")
        assert len(_audited(db, "intervention.outcome", str(task_id))) == 1

    page.goto(f"{site.url}/tutors")
    page.get_by_text(re.compile(r"^1 to \d+ of [\d,]+ tutors$")).wait_for(timeout=WAIT_MS)
    context.close()
