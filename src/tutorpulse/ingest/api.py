"""HTTP ingestion: ``POST /api/v1/ingest/{kind}`` with a JSON array, same service as files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query

from tutorpulse.api.deps import AppClock, DbSession
from tutorpulse.auth.deps import require_scope
from tutorpulse.ingest.files import ingest_records
from tutorpulse.ingest.schemas import RecordKind

router = APIRouter(prefix="/ingest", tags=["ingest"])
MAX_RECORDS_PER_REQUEST = 10_000
# Scoped API tokens (``tutorpulse tokens create --scope ingest``); the TUTORPULSE_INGEST_TOKEN
# setting still works as a bootstrap token with the ingest scope.
require_ingest_token = require_scope("ingest")


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
