"""Processing status and the manual trigger."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.store.stats import processing_stats
from emailbot.store.system_state import pause_state

router = APIRouter(prefix="/process", tags=["processing"])


class ProcessingStats(BaseModel):
    total_processed: int = Field(description="Emails that reached a final state (completed or failed), ever.")
    completed: int = Field(description="Emails processed successfully, ever.")
    failed: int = Field(description="Emails that failed after every attempt, ever.")
    success_rate: float | None = Field(description="completed / total_processed (0-1); null before the first email.")
    average_processing_time: float | None = Field(
        description="Seconds from receipt to a final state, averaged; null before the first email."
    )
    classification_accuracy: float | None = Field(
        description="Share of reviewed emails whose category the reviewer kept (0-1); null without reviews."
    )


class ProcessStatus(BaseModel):
    """The manual's processing status: what the daily health check reads."""

    status: Literal["running", "paused", "stopped"] = Field(
        description="running: this process polls and processes; paused: maintenance mode (every engine waits); "
        "stopped: this process runs no engine (an API-only role)."
    )
    paused: bool = Field(description="Whether processing is paused (`emailbot pause`, a restore).")
    paused_reason: str | None = Field(description="Why processing is paused; null when it is not.")
    paused_since: datetime | None = Field(description="When processing was paused (UTC); null when it is not.")
    last_processing: datetime | None = Field(description="When an email last reached a final state (UTC).")
    last_poll: datetime | None = Field(description="When this process last polled the mailbox (UTC).")
    emails_processed_today: int = Field(description="Emails that reached a final state since midnight UTC.")
    current_queue_size: int = Field(description="Emails stored but not yet in a final state.")
    processing_stats: ProcessingStats
    last_error: str | None = Field(description="The engine's last polling or processing error; null when none.")


@router.get("/status")
async def process_status(runtime: RuntimeDep, session: SessionDep) -> ProcessStatus:
    stats = await processing_stats(session)
    pause = await pause_state(session) or {}
    return ProcessStatus(
        status="paused" if pause else "running" if runtime.engine.running else "stopped",
        paused=bool(pause),
        paused_reason=pause.get("reason"),
        paused_since=pause.get("since"),
        last_processing=stats.last_processing,
        last_poll=runtime.engine.last_poll_at,
        emails_processed_today=stats.processed_today,
        current_queue_size=stats.backlog,
        processing_stats=ProcessingStats(
            total_processed=stats.total_processed,
            completed=stats.completed,
            failed=stats.failed,
            success_rate=stats.success_rate,
            average_processing_time=stats.average_processing_time,
            classification_accuracy=stats.classification_accuracy,
        ),
        last_error=runtime.engine.last_error,
    )


@router.post("/trigger", status_code=status.HTTP_202_ACCEPTED)
async def process_trigger(runtime: RuntimeDep) -> dict[str, Any]:
    if runtime.engine.running:
        runtime.engine.trigger()
        return {"status": "triggered", "message": "The mailbox will be polled now."}
    stored = await runtime.engine.poll_once()
    processed = await runtime.engine.drain()
    return {"status": "processed", "message": f"Stored {stored} new emails, processed {processed}."}
