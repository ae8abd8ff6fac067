"""HTTP ingestion: ``POST /api/v1/ingest/{kind}`` with a JSON array, same service as files.

Each request is one batch and one audit entry (``ingest.batch``: the token, the counts), in the
batch's own transaction; records are not audited one by one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query

from tutorpulse.api.deps import AppClock, DbSession
from tutorpulse.auth import audit
from tutorpulse.auth.deps import Principal, require_scope
from tutorpulse.ingest.files import ingest_records
from tutorpulse.ingest.schemas import RecordKind

router = APIRouter(prefix="/ingest", tags=["ingest"])
MAX_RECORDS_PER_REQUEST = 10_000
# Scoped API tokens (``tutorpulse tokens create --scope ingest``); the TUTORPULSE_INGEST_TOKEN
# setting still works as a bootstrap token with the ingest scope.
require_ingest_token = require_scope("ingest")


@router.post("/{kind}", summary="Ingest a JSON array of records of one kind")
def ingest(
    kind: RecordKind,
    db: DbSession,
    clock: AppClock,
    principal: Annotated[Principal, Depends(require_ingest_token)],
    records: Annotated[list[Any], Body(max_length=MAX_RECORDS_PER_REQUEST)],
    source: Annotated[Literal["real", "synthetic"], Query()] = "real",
) -> dict[str, Any]:
    now = clock.now()
    report = ingest_records(
        db, kind=kind, records=records, source=source, origin=f"http:{kind}", now=now
    )
    result = report.as_dict()
    audit.record(
        db,
        actor=principal.actor,
        action="ingest.batch",
        target_type="ingest_batch",
        target_id=result["batch_id"],
        details={"kind": kind, "source": source, **result["counts"].get(kind, {})},
        now=now,
    )
    db.commit()
    return {
        "batch_id": result["batch_id"],
        "kind": kind,
        **result["counts"][kind],
        "rejections": result["rejections"],
    }
