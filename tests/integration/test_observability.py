"""Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tutorpulse.api.app import create_app
from tutorpulse.clock import FixedClock
from tutorpulse.config import Settings
from tutorpulse.observability.logging import JsonFormatter, request_id

from ..conftest import NOW, SAMPLE_DIR
from .helpers import run_import


def _client(db: Session) -> TestClient:
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    return TestClient(
        create_app(Settings(env="test"), session_factory=factory, clock=FixedClock(NOW))
    )


def test_metrics_report_queue_ingest_and_latency(db: Session) -> None:
    run_import(db, SAMPLE_DIR)
    with _client(db) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = response.text
    assert "tutorpulse_pipeline_queue_depth 8" in body
    assert "tutorpulse_ingest_records_accepted_total 403" in body
    assert 'route="/healthz",status="200",le="+Inf"' in body


def test_request_id_is_echoed_or_created(db: Session) -> None:
    with _client(db) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "abc123"})
        assert given.headers["X-Request-ID"] == "abc123"
        made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert made.headers["X-Request-ID"] != "bad id with spaces"
        assert len(made.headers["X-Request-ID"]) == 16


def test_json_logs_carry_request_id_and_hide_secrets() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.fields = {"password": "hunter2", "tutor_id": "t1"}
    token = request_id.set("req1")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert entry["message"] == "hello world" and entry["request_id"] == "req1"
    assert entry["password"] == "[redacted]" and entry["tutor_id"] == "t1"
