"""The API docs render in a real browser from local assets only (the network is closed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser


def test_api_docs_render_without_external_requests(
    page: Any, live_server: str, artifacts_dir: Path
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server}/docs")
    page.get_by_text("/api/v1/ingest/{kind}").first.wait_for(timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "api-docs.png"), full_page=False)
    hosts = {urlparse(url).hostname for url in requested if url.startswith("http")}
    assert hosts == {"127.0.0.1"}, hosts
