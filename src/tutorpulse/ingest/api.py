"""HTTP ingestion: ``POST /api/v1/ingest/{kind}`` with a JSON array, same service as files."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tutorpulse.api.deps import AppClock, AppSettings, DbSession
from tutorpulse.ingest.files import ingest_records
from tutorpulse.ingest.schemas import RecordKind

router = APIRouter(prefix="/ingest", tags=["ingest"])
MAX_RECORDS_PER_REQUEST = 10_000
bearer = HTTPBearer(auto_error=False)


def require_ingest_token(
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    expected = settings.ingest_token
    if expected is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "ingestion over HTTP is disabled: set TUTORPULSE_INGEST_TOKEN",
        )
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), expected.encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid ingest token",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.post(
    "/{kind}",
    summary="Ingest a JSON array of records of one kind",
    dependencies=[Depends(require_ingest_token)],
)
def ingest(
    kind: RecordKind,
    db: DbSession,
    clock: AppClock,
    records: Annotated[list[Any], Body(max_length=MAX_RECORDS_PER_REQUEST)],
    source: Annotated[Literal["real", "synthetic"], Query()] = "real",
) -> dict[str, Any]:
    report = ingest_records(
        db, kind=kind, records=records, source=source, origin=f"http:{kind}", now=clock.now()
    )
    db.commit()
    result = report.as_dict()
    return {
        "batch_id": result["batch_id"],
        "kind": kind,
        **result["counts"][kind],
        "rejections": result["rejections"],
    }
