"""Optional Sentry reporting: off (and never imported) without a DSN; with a DSN pointing at a
local dummy endpoint (never the internet), an unhandled error in a route is reported without
personal data. Each case runs in its own interpreter: Sentry's client is process-wide."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = r"""
import sys
from fastapi.testclient import TestClient
from tutorpulse.api.app import create_app
from tutorpulse.config import Settings

dsn = sys.argv[1] or None
app = create_app(Settings(env="test", sentry_dsn=dsn, data_dir=sys.argv[2]))

@app.get("/boom")
def boom() -> None:
    student_email = "alex.doe@example.org"  # a local a careless event would carry
    raise RuntimeError("pipeline exploded for a test")

with TestClient(app, raise_server_exceptions=False) as client:
    response = client.get(
        "/boom", headers={"Authorization": "Bearer secret-session-token-123"}
    )
print(response.status_code)
print("sentry_sdk" in sys.modules)
if dsn:
    import sentry_sdk
    sentry_sdk.flush(timeout=30)
"""


class Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        Collector.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42", Collector.received
    finally:
        server.shutdown()
        server.server_close()


def _run(dsn: str, tmp_path: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUTORPULSE_", "SENTRY_"))}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, dsn, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    return result.stdout.split()


def test_without_a_dsn_sentry_is_not_even_imported(tmp_path: Path) -> None:
    assert _run("", tmp_path) == ["500", "False"]


def test_with_a_dsn_an_error_is_reported_without_personal_data(
    collector: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    dsn, received = collector
    assert _run(dsn, tmp_path) == ["500", "True"]
    events = [body for body in received if b"pipeline exploded for a test" in body]
    assert events, f"no error event reached the endpoint ({len(received)} requests)"
    payload = events[0].decode()
    assert "RuntimeError" in payload
    assert "secret-session-token-123" not in payload  # Authorization header dropped
    assert "alex.doe@example.org" not in payload  # no local variables
    event = json.loads(payload.splitlines()[-1])
    assert "user" not in event
    assert event["environment"] == "test"
