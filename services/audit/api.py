"""Audit's query API: the trail of a referral, in order."""

import json
import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1")


@router.get("/referrals/{referral_id}/audit", tags=["audit"])
async def referral_trail(
    referral_id: uuid.UUID,
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    after_seq: int = Query(default=0, ge=0),
) -> JSONResponse:
    """Every event recorded for one referral, oldest first, paginated by sequence number."""
    runtime: Runtime = request.app.state.runtime
    rows = await runtime.pool.fetch(
        "SELECT seq, event_id, event_type, topic, correlation_id, occurred_at, recorded_at, payload, row_hash"
        " FROM audit_log WHERE referral_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        referral_id,
        after_seq,
        limit,
    )
    if not rows and after_seq == 0:
        return problem(404, "Not Found", "no audit records for that referral yet")
    events = [
        {
            "seq": r["seq"],
            "event_id": str(r["event_id"]),
            "event_type": r["event_type"],
            "topic": r["topic"],
            "correlation_id": r["correlation_id"],
            "occurred_at": r["occurred_at"].isoformat() if r["occurred_at"] else None,
            "recorded_at": r["recorded_at"].isoformat(),
            "payload": json.loads(r["payload"]),
            "row_hash": r["row_hash"],
        }
        for r in rows
    ]
    next_seq = events[-1]["seq"] if len(events) == limit else None
    return JSONResponse({"referral_id": str(referral_id), "events": events, "next_after_seq": next_seq})
