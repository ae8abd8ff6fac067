"""Dashboard JSON API on both backends: KPIs, lists, profile, queues, alerts, analytics,
change feed, permissions and the tutor's view without churn fields."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tutorpulse.dashboard import analytics
from tutorpulse.events.models import OutboxMessage
from tutorpulse.interventions.models import Alert, Intervention, Notification
from tutorpulse.marketplace.models import Tutor

from .test_dashboard_data import (
    AS_OF,
    CRITICAL_TUTOR,
    OWN_TUTOR,
    Market,
    as_user,
    client,
    forbidden_keys,
    market,
)

__all__ = ["client", "market"]  # fixtures


def test_kpis_have_values_and_changes(client: TestClient, market: Market) -> None:
    response = client.get("/api/v1/kpis", headers=as_user(market.users["manager"]))
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == AS_OF.isoformat()
    kpis = {k["key"]: k for k in body["kpis"]}
    assert set(kpis) == {
        "active_tutors",
        "at_risk",
        "first_session_success",
        "no_show_rate",
        "churn_rate",
    }
    assert kpis["active_tutors"]["value"] == 8
    # High and critical by the preferred prediction: the model's row where there is one.
    rows = client.get("/api/v1/tutors", headers=as_user(market.users["manager"])).json()
    at_risk = [r for r in rows["items"] if r["risk_level"] in ("High", "Critical")]
    assert kpis["at_risk"]["value"] == len(at_risk) >= 1
    success = kpis["first_session_success"]
    assert 0 <= success["value"] <= 1 and success["sample"] > 0
    for kpi in kpis.values():
        if kpi["value"] is not None and kpi["previous"] is not None:
            assert kpi["change"] == pytest.approx(kpi["value"] - kpi["previous"])


def test_tutor_list_filters_searches_sorts_and_pages(client: TestClient, market: Market) -> None:
    headers = as_user(market.users["people_ops"])
    page = client.get("/api/v1/tutors", headers=headers).json()
    assert page["total"] == 8 and len(page["items"]) == 8
    first = page["items"][0]
    assert first["tutor_id"] == CRITICAL_TUTOR
    assert first["churn_score"] == 88 and first["score_source"] == "model"
    scores = [row["churn_score"] for row in page["items"]]
    assert scores == sorted(scores, reverse=True)

    paged = client.get("/api/v1/tutors?page=2&page_size=3&sort=name", headers=headers).json()
    names = [
        r["name"] for r in client.get("/api/v1/tutors?sort=name", headers=headers).json()["items"]
    ]
    assert [r["name"] for r in paged["items"]] == names[3:6]
    assert paged["total"] == 8
    # Names are encrypted at rest: sorted (and searched) after decryption, not in SQL.
    assert names == sorted(names, key=str.casefold)
    backwards = client.get("/api/v1/tutors?sort=-name", headers=headers).json()["items"]
    assert [r["name"] for r in backwards] == sorted(names, key=str.casefold, reverse=True)

    critical = client.get("/api/v1/tutors?risk_level=critical", headers=headers).json()
    assert [r["tutor_id"] for r in critical["items"]] == [CRITICAL_TUTOR]

    one = page["items"][3]
    found = client.get(f"/api/v1/tutors?q={one['name'].split()[0]}", headers=headers).json()
    assert one["tutor_id"] in {r["tutor_id"] for r in found["items"]}
    assert all(one["name"].split()[0].lower() in r["name"].lower() for r in found["items"])
    # A whole email finds its tutor through the keyed hash, in any case.
    email = market.db.get(Tutor, one["tutor_id"]).email  # type: ignore[union-attr]
    by_email = client.get("/api/v1/tutors", params={"q": email.upper()}, headers=headers).json()
    assert [r["tutor_id"] for r in by_email["items"]] == [one["tutor_id"]]
    subject = one["subjects"][0]
    by_subject = client.get(f"/api/v1/tutors?subject={subject}", headers=headers).json()
    assert by_subject["total"] >= 1
    assert all(subject in r["subjects"] for r in by_subject["items"])
    tier = client.get("/api/v1/tutors?tier=Strong", headers=headers).json()
    strong = sum(1 for r in page["items"] if r["tier"] == "Strong")
    assert strong >= 1 and all(r["tier"] == "Strong" for r in tier["items"])
    assert tier["total"] == strong


def test_profile_for_staff_has_churn_explained(client: TestClient, market: Market) -> None:
    response = client.get(
        f"/api/v1/tutors/{CRITICAL_TUTOR}", headers=as_user(market.users["manager"])
    )
    assert response.status_code == 200
    profile = response.json()
    risk = profile["churn_risk"]
    assert risk["score_source"] == "model" and risk["churn_score"] == 88
    assert risk["probabilities"] == {"1d": 0.05, "7d": 0.3, "30d": 0.88, "90d": 0.93}
    assert risk["rules_score"] is not None
    texts = [f["text"] for f in risk["top_factors"]]
    assert texts and texts[0].startswith("Rescheduled ")
    windows = {m["window_days"]: m for m in profile["metrics"]}
    assert set(windows) == {7, 30, 90}
    figure = {f["key"]: f for f in windows[7]["figures"]}["first_session_success_rate"]
    assert "n" in figure and isinstance(figure["enough_data"], bool)
    assert profile["tier"]["tier"] is not None
    assert profile["flags"] and all("evidence" in f for f in profile["flags"])
    assert any(i["intervention_type"] == "H1" for i in profile["interventions"])
    assert profile["timeline"]
    assert profile["manager_notes"] == []
    for item in profile["feedback"]:
        assert item["student"].startswith("Student ")


def test_tutor_sees_own_profile_without_churn_fields_and_nobody_elses(
    client: TestClient, market: Market
) -> None:
    tutor = as_user(market.users["tutor"])
    own = client.get(f"/api/v1/tutors/{OWN_TUTOR}", headers=tutor)
    assert own.status_code == 200
    assert forbidden_keys(own.json()) == []
    assert "interventions" not in own.json()
    other = client.get(f"/api/v1/tutors/{CRITICAL_TUTOR}", headers=tutor)
    missing = client.get("/api/v1/tutors/no-such-tutor", headers=tutor)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()  # no hint that the other tutor exists


def test_roles_and_anonymous_are_refused(client: TestClient, market: Market) -> None:
    staff_only = [
        "/api/v1/kpis",
        "/api/v1/tutors",
        "/api/v1/interventions",
        "/api/v1/alerts",
        "/api/v1/analytics/tier_distribution",
        "/api/v1/updates",
    ]
    for path in [*staff_only, "/api/v1/portal/me", f"/api/v1/tutors/{OWN_TUTOR}"]:
        assert client.get(path).status_code == 401, path
    for who in ("tutor", "student"):
        for path in staff_only:
            assert client.get(path, headers=as_user(market.users[who])).status_code == 403
    assert (
        client.get("/api/v1/portal/me", headers=as_user(market.users["manager"])).status_code == 403
    )
    assert (
        client.post(
            f"/api/v1/interventions/{market.task.intervention_id}/assign",
            headers=as_user(market.users["people_ops"]),
        ).status_code
        == 403
    )


def test_alert_queue_and_one_click_assign(client: TestClient, market: Market) -> None:
    manager = market.users["manager"]
    alerts = client.get("/api/v1/alerts", headers=as_user(manager)).json()
    top = alerts["items"][0]
    assert top["tutor_id"] == CRITICAL_TUTOR and top["severity"] == "Critical"
    assert top["churn_score"] == 88
    assert top["recommended"]["intervention_id"] == market.task.intervention_id
    scores = [a["churn_score"] for a in alerts["items"] if a["severity"] == "Critical"]
    assert scores == sorted(scores, reverse=True)

    before = client.get("/api/v1/interventions?assignee=me", headers=as_user(manager)).json()
    assert before["total"] == 0
    latest = client.get("/api/v1/updates", headers=as_user(manager)).json()["latest_id"]
    assigned = client.post(
        f"/api/v1/interventions/{top['recommended']['intervention_id']}/assign",
        headers=as_user(manager),
    )
    assert assigned.status_code == 200
    assert assigned.json()["assigned_to"] == manager.id
    mine = client.get("/api/v1/interventions?assignee=me", headers=as_user(manager)).json()
    assert [i["intervention_id"] for i in mine["items"]] == [market.task.intervention_id]
    row = mine["items"][0]
    assert row["seconds_to_due"] == 22 * 3600 and row["overdue"] is False
    notified = market.db.scalars(
        select(Notification).where(Notification.recipient_user_id == manager.id)
    ).all()
    assert notified
    feed = client.get(f"/api/v1/updates?since={latest}", headers=as_user(manager)).json()
    assert [e["topic"] for e in feed["events"]] == ["intervention.assigned"]
    assert feed["events"][0]["payload"]["tutor_id"] == CRITICAL_TUTOR

    other = market.users["manager2"]
    to_other = client.post(
        f"/api/v1/interventions/{market.task.intervention_id}/assign",
        json={"assignee_id": other.id},
        headers=as_user(manager),
    )
    assert to_other.status_code == 200
    theirs = client.get("/api/v1/interventions?assignee=me", headers=as_user(other)).json()
    assert theirs["total"] == 1


def test_outcome_closes_the_task(client: TestClient, market: Market) -> None:
    headers = as_user(market.users["people_ops"])
    done = client.post(
        f"/api/v1/interventions/{market.task.intervention_id}/outcome",
        json={"outcome": "improved", "notes": "Talked through the schedule"},
        headers=headers,
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    again = client.post(
        f"/api/v1/interventions/{market.task.intervention_id}/outcome",
        json={"outcome": "improved"},
        headers=headers,
    )
    assert again.status_code == 409
    bad = client.post(
        f"/api/v1/interventions/{market.task.intervention_id}/outcome",
        json={"outcome": "great"},
        headers=headers,
    )
    assert bad.status_code == 422


def test_overdue_tasks_are_marked(client: TestClient, market: Market) -> None:
    market.task.due_date = market.task.recommended_date
    market.db.flush()
    page = client.get(
        "/api/v1/interventions?status=overdue", headers=as_user(market.users["manager"])
    ).json()
    assert [i["intervention_id"] for i in page["items"]] == [market.task.intervention_id]
    assert page["items"][0]["overdue"] is True and page["items"][0]["seconds_to_due"] < 0


def test_alert_lifecycle(client: TestClient, market: Market) -> None:
    headers = as_user(market.users["people_ops"])
    alert_id = market.alert.id
    assert (
        client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=headers).json()["status"]
        == "acknowledged"
    )
    snoozed = client.post(f"/api/v1/alerts/{alert_id}/snooze", json={"hours": 4}, headers=headers)
    assert snoozed.json()["status"] == "snoozed"
    queue = client.get("/api/v1/alerts", headers=headers).json()
    assert alert_id not in {a["alert_id"] for a in queue["items"]}
    dismissed = client.post(
        f"/api/v1/alerts/{alert_id}/dismiss", json={"reason": "wrong"}, headers=headers
    )
    assert dismissed.json()["status"] == "dismissed"
    market.db.expire_all()
    assert market.db.get(Alert, alert_id).dismiss_reason == "wrong"  # type: ignore[union-attr]
    assert client.post("/api/v1/alerts/999999/acknowledge", headers=headers).status_code == 404
    topics = market.db.scalars(select(OutboxMessage.topic)).all()
    assert "alert.dismissed" in topics


@pytest.mark.parametrize("name", sorted(analytics.TABLES))
def test_analytics_tables_and_csv(client: TestClient, market: Market, name: str) -> None:
    headers = as_user(market.users["manager"])
    table = client.get(f"/api/v1/analytics/{name}", headers=headers)
    assert table.status_code == 200
    body = table.json()
    assert body["name"] == name and body["columns"]
    assert all(len(row) == len(body["columns"]) for row in body["rows"])
    exported = client.get(f"/api/v1/analytics/{name}?format=csv", headers=headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert f'filename="{name}.csv"' in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == body["columns"] and len(rows) == len(body["rows"]) + 1


def test_analytics_content(client: TestClient, market: Market) -> None:
    headers = as_user(market.users["manager"])
    tiers = client.get("/api/v1/analytics/tier_distribution", headers=headers).json()
    assert sum(row[1] for row in tiers["rows"]) == 8
    effect = client.get("/api/v1/analytics/intervention_effectiveness", headers=headers).json()
    assert {"uplift", "uplift_low", "uplift_high"} <= set(effect["columns"])
    assert client.get("/api/v1/analytics/nope", headers=headers).status_code == 404


def test_intervention_queue_filters(client: TestClient, market: Market) -> None:
    headers = as_user(market.users["manager"])
    open_human = client.get("/api/v1/interventions", headers=headers).json()
    assert [i["intervention_type"] for i in open_human["items"]] == ["H1"]
    unassigned = client.get("/api/v1/interventions?assignee=unassigned", headers=headers).json()
    assert unassigned["total"] == 1
    automated = client.get("/api/v1/interventions?mode=automated&status=all", headers=headers)
    count = market.db.scalars(select(Intervention).where(Intervention.mode == "automated")).all()
    assert automated.json()["total"] == len(count)
    assert client.get("/api/v1/interventions?assignee=bob", headers=headers).status_code == 422


def test_updates_socket_pushes_committed_changes(client: TestClient, market: Market) -> None:
    from tutorpulse.events import service as events
    from tutorpulse.interventions.models import Intervention as Task

    headers = as_user(market.users["manager"])
    with client.websocket_connect("/api/v1/ws/updates", headers=headers) as socket:
        first = socket.receive_json()
        assert first["events"] == [] and first["latest_id"] >= 0
        task = market.db.get(Task, market.task.intervention_id)
        assert task is not None
        events.emit(
            market.db,
            topic="pipeline.tutors_updated",
            payload={"tutor_ids": [CRITICAL_TUTOR], "count": 1, "secret": "x"},
            now=task.recommended_date,
        )
        market.db.flush()
        pushed = socket.receive_json()  # the server polls the outbox every second
        assert [e["topic"] for e in pushed["events"]] == ["pipeline.tutors_updated"]
        assert pushed["events"][0]["payload"] == {"tutor_ids": [CRITICAL_TUTOR], "count": 1}


def test_updates_socket_refuses_non_staff(client: TestClient, market: Market) -> None:
    from starlette.websockets import WebSocketDisconnect

    for headers in ({}, as_user(market.users["tutor"])):
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect("/api/v1/ws/updates", headers=headers) as socket,
        ):
            socket.receive_json()


def test_manager_notes_are_internal(client: TestClient, market: Market) -> None:
    manager = as_user(market.users["manager"])
    added = client.post(
        f"/api/v1/tutors/{CRITICAL_TUTOR}/notes",
        json={"body": "Called about the schedule; follow up Friday."},
        headers=manager,
    )
    assert added.status_code == 201 and added.json()["author"] == "Sarah"
    listed = client.get(f"/api/v1/tutors/{CRITICAL_TUTOR}/notes", headers=manager).json()
    assert [n["body"] for n in listed] == ["Called about the schedule; follow up Friday."]
    profile = client.get(f"/api/v1/tutors/{CRITICAL_TUTOR}", headers=manager).json()
    assert profile["manager_notes"][0]["author"] == "Sarah"
    empty = client.post(
        f"/api/v1/tutors/{CRITICAL_TUTOR}/notes", json={"body": "   "}, headers=manager
    )
    assert empty.status_code == 400
    tutor = as_user(market.users["tutor"])
    assert client.get(f"/api/v1/tutors/{OWN_TUTOR}/notes", headers=tutor).status_code == 403
    assert (
        client.post(
            f"/api/v1/tutors/{OWN_TUTOR}/notes", json={"body": "mine"}, headers=tutor
        ).status_code
        == 403
    )
    own = client.get(f"/api/v1/tutors/{OWN_TUTOR}", headers=tutor).json()
    assert "manager_notes" not in own


def test_active_override_is_shown_beside_the_prediction(client: TestClient, market: Market) -> None:
    from datetime import timedelta

    from tutorpulse.risk.overrides import create_override

    from .test_dashboard_data import NOW

    create_override(
        market.db,
        tutor_id=CRITICAL_TUTOR,
        risk_level="Medium",
        reason="Back from leave; schedule is stable again",
        expires_at=NOW + timedelta(days=14),
        actor=market.users["manager"],
        now=NOW,
    )
    market.db.flush()
    profile = client.get(
        f"/api/v1/tutors/{CRITICAL_TUTOR}", headers=as_user(market.users["manager"])
    ).json()
    override = profile["churn_risk"]["override"]
    assert override["risk_level"] == "Medium" and override["reason"].startswith("Back from")
    assert profile["churn_risk"]["churn_score"] == 88  # the model's figure stays visible


def test_model_card_backtest_and_calibration(client: TestClient, market: Market) -> None:
    from tutorpulse.risk.models import ModelVersion

    from .test_dashboard_data import NOW

    market.db.add(
        ModelVersion(
            version="churn-test-1",
            model_kind="churn",
            status="champion",
            artifact_path="/nowhere",
            metrics={
                "horizons": {
                    "30": {
                        "auc": 0.81,
                        "calibration_bins": [
                            {"bin": [0.0, 0.1], "count": 90, "predicted": 0.04, "observed": 0.05}
                        ],
                    }
                },
                "backtest": {
                    "table": [
                        {
                            "month": "2024-12",
                            "band": "High",
                            "tutors": 12,
                            "predicted_rate": 0.4,
                            "actual_rate": 0.33,
                            "churned": 4,
                            "in_sample": False,
                        }
                    ]
                },
            },
            trained_at=NOW,
        )
    )
    market.db.flush()
    headers = as_user(market.users["manager"])
    card = client.get("/api/v1/analytics/model_card", headers=headers).json()
    assert "churn-test-1" in card["note"] and ["horizons.30.auc", 0.81] in card["rows"]
    backtest = client.get("/api/v1/analytics/model_backtest", headers=headers).json()
    assert backtest["rows"] == [["2024-12", "High", 12, 0.4, 0.33, 4, False]]
    bins = client.get("/api/v1/analytics/model_calibration", headers=headers).json()
    assert bins["rows"] == [[30, 0.0, 0.1, 90, 0.04, 0.05]]
