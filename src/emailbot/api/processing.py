"""Processing status and the manual trigger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.store.stats import processing_stats
from emailbot.store.system_state import pause_state

router = APIRouter(prefix="/process", tags=["processing"])


@router.get("/status")
async def process_status(runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    stats = await processing_stats(session)
    pause = await pause_state(session)
    return {
        "status": "paused" if pause else "running" if runtime.engine.running else "stopped",
        "paused": pause,
        "last_processing": stats.last_processing.isoformat() if stats.last_processing else None,
        "last_poll": runtime.engine.last_poll_at.isoformat() if runtime.engine.last_poll_at else None,
        "emails_processed_today": stats.processed_today,
        "current_queue_size": stats.backlog,
        "processing_stats": {
            "total_processed": stats.total_processed,
            "completed": stats.completed,
            "failed": stats.failed,
            "success_rate": stats.success_rate,
            "average_processing_time": stats.average_processing_time,
            "classification_accuracy": stats.classification_accuracy,
        },
        "last_error": runtime.engine.last_error,
    }


@router.post("/trigger", status_code=status.HTTP_202_ACCEPTED)
async def process_trigger(runtime: RuntimeDep) -> dict[str, Any]:
    if runtime.engine.running:
        runtime.engine.trigger()
        return {"status": "triggered", "message": "The mailbox will be polled now."}
    stored = await runtime.engine.poll_once()
    processed = await runtime.engine.drain()
    return {"status": "processed", "message": f"Stored {stored} new emails, processed {processed}."}
