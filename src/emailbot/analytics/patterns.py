"""Pattern discovery: the recurring kinds of email a desk gets, and how far each could be automated.

Three kinds of pattern, each with frequency, first and last seen, the dominant category, an automation potential
(0-100) and a suggested automation:
- `cluster`: emails whose cleaned text is alike (TF-IDF, cosine similarity >= 0.5, grouped as connected
  components of the similarity graph, so a planted family is found whatever its size and noise stays alone);
- `sender`: addresses that write again and again;
- `subject`: the same subject once "Re:", "Fwd:", numbers and ticket ids are taken out.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.store.db import Database
from emailbot.store.tables import EmailPatternRow, EmailRow, ProcessingResultRow, utcnow

MIN_FREQUENCY = 2
MAX_EMAILS = 200_000  # senders and subjects: the newest of the window
MAX_CLUSTERED = 5_000  # texts: the newest of the window (the similarity graph grows with the square)
SIMILARITY = 0.5
TEXT_CHARS = 2_000
SAMPLES = 5
MAX_PER_KIND = 200
PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|tr|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
NUMBERS = re.compile(r"[#]?\d[\d\-/.:,]*")
SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Seen:
    email_id: int
    sender: str
    subject: str
    received: datetime
    category: str | None
    confidence: float | None
    action: str | None


def normalize_subject(subject: str) -> str:
    """'RE: Fwd: Invoice 4711 overdue' and 'invoice 4712 overdue' are the same subject: 'invoice # overdue'."""
    without_prefix = PREFIX.sub("", subject)
    return SPACES.sub(" ", NUMBERS.sub("#", without_prefix)).strip().lower()


def automation_potential(frequency: int, consistency: float, confidence: float | None) -> float:
    """0-100: frequent (100 a period counts fully), one category (consistency) and confidently classified."""
    frequent = min(1.0, math.log10(max(frequency, 1)) / 2)
    sure = (confidence or 0) / 100
    return round(100 * (0.3 * frequent + 0.4 * consistency + 0.3 * sure), 1)


def describe(kind: str, key: str, members: list[Seen], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    categories = Counter(member.category for member in members if member.category)
    category, top = categories.most_common(1)[0] if categories else (None, 0)
    consistency = top / len(members)
    confidences = [member.confidence for member in members if member.confidence is not None]
    confidence = sum(confidences) / len(confidences) if confidences else None
    subjects = list(dict.fromkeys(member.subject for member in sorted(members, key=lambda m: m.received)))
    return {
        "kind": kind,
        "key": key[:500],
        "category": category,
        "frequency": len(members),
        "automation_potential": automation_potential(len(members), consistency, confidence),
        "sample_subjects": subjects[-SAMPLES:],
        "suggested_automation": suggestion(kind, key, category, consistency, confidence),
        "first_seen": min(member.received for member in members),
        "last_seen": max(member.received for member in members),
        "details": {
            "category_consistency": round(consistency, 3),
            "average_confidence": round(confidence, 1) if confidence is not None else None,
            "categories": dict(categories),
            "actions": dict(Counter(member.action or "" for member in members)),
            **(extra or {}),
        },
    }


def suggestion(kind: str, key: str, category: str | None, consistency: float, confidence: float | None) -> str:
    if category is None or consistency < 0.8:
        return "Mixed categories: review these emails and add them as labelled examples so the classifier learns them."
    if category == "ESCALATION":
        return f"Escalate at once with a processing rule for {_what(kind, key)}."
    if (confidence or 0) >= 85:
        return f"Already answered automatically as {category}: keep the {category} reply template current for them."
    return (
        f"Add a processing rule for {_what(kind, key)} -> {category} with a dedicated reply template, "
        "or add them as training examples so they are answered automatically."
    )


def _what(kind: str, key: str) -> str:
    return {"sender": f"sender {key}", "subject": f"subject '{key}'"}.get(kind, f"emails about '{key}'")


def sender_patterns(emails: list[Seen], min_frequency: int) -> list[dict[str, Any]]:
    groups: dict[str, list[Seen]] = {}
    for email in emails:
        if email.sender:
            groups.setdefault(email.sender.lower(), []).append(email)
    return [describe("sender", key, group) for key, group in groups.items() if len(group) >= min_frequency]


def subject_patterns(emails: list[Seen], min_frequency: int) -> list[dict[str, Any]]:
    groups: dict[str, list[Seen]] = {}
    for email in emails:
        key = normalize_subject(email.subject)
        if len(key) >= 3:
            groups.setdefault(key, []).append(email)
    return [describe("subject", key, group) for key, group in groups.items() if len(group) >= min_frequency]


def cluster_patterns(emails: list[Seen], texts: dict[int, str], min_frequency: int) -> list[dict[str, Any]]:
    documents = [e for e in emails if e.email_id in texts][:MAX_CLUSTERED]
    if len(documents) < max(min_frequency, 2):
        return []
    corpus = [f"{normalize_subject(e.subject)} {texts[e.email_id][:TEXT_CHARS]}" for e in documents]
    vectorizer = TfidfVectorizer(
        stop_words="english", min_df=2, max_df=0.5, sublinear_tf=True, token_pattern=r"(?u)\b[^\W\d_]{2,}\b"
    )
    try:
        matrix = vectorizer.fit_transform(corpus)
    except ValueError:  # every word too rare or too common: nothing recurs
        return []
    similar = matrix @ matrix.T
    similar.data = (similar.data >= SIMILARITY).astype(np.int8)
    similar.eliminate_zeros()
    _, labels = connected_components(similar, directed=False)
    terms = vectorizer.get_feature_names_out()
    patterns = []
    for label in set(labels.tolist()):
        rows = np.flatnonzero(labels == label)
        if len(rows) < min_frequency:
            continue
        weights = np.asarray(matrix[rows].mean(axis=0)).ravel()
        top_terms = [str(terms[i]) for i in weights.argsort()[::-1][:4] if weights[i] > 0]
        members = [documents[i] for i in rows]
        extra = {"top_terms": top_terms, "email_ids": [m.email_id for m in members[:20]]}
        patterns.append(describe("cluster", " ".join(top_terms), members, extra))
    return patterns


async def load_window(session: AsyncSession, since: datetime, until: datetime) -> tuple[list[Seen], dict[int, str]]:
    """The window's emails (newest first) and the cleaned text of the newest, which clustering reads."""
    result = ProcessingResultRow
    rows = await session.execute(
        select(
            EmailRow.id,
            EmailRow.sender,
            EmailRow.subject,
            EmailRow.received_datetime,
            result.category,
            result.confidence,
            result.action,
        )
        .join(result, result.email_id == EmailRow.id)
        .where(EmailRow.received_datetime >= since, EmailRow.received_datetime < until)
        .order_by(EmailRow.received_datetime.desc())
        .limit(MAX_EMAILS)
    )
    emails = [Seen(r[0], r[1] or "", r[2] or "", r[3], r[4], r[5], r[6]) for r in rows]
    newest = [email.email_id for email in emails[:MAX_CLUSTERED]]
    texts: dict[int, str] = {}
    for chunk in range(0, len(newest), 1000):
        ids = newest[chunk : chunk + 1000]
        found = await session.execute(select(EmailRow.id, EmailRow.clean_text).where(EmailRow.id.in_(ids)))
        texts.update({email_id: text or "" for email_id, text in found})
    return emails, texts


def discover(emails: list[Seen], texts: dict[int, str], min_frequency: int) -> list[dict[str, Any]]:
    """The most frequent patterns of each kind (a long tail of senders who wrote twice helps nobody)."""
    found = []
    for patterns in (
        cluster_patterns(emails, texts, min_frequency),
        sender_patterns(emails, min_frequency),
        subject_patterns(emails, min_frequency),
    ):
        found += sorted(patterns, key=lambda p: (-p["frequency"], p["key"]))[:MAX_PER_KIND]
    return found


async def discover_and_store(db: Database, *, days: int = 30, min_frequency: int = MIN_FREQUENCY) -> dict[str, Any]:
    """Analyse the last `days` and replace the stored patterns with what was found."""
    started = utcnow()
    async with db.transaction() as session:
        emails, texts = await load_window(session, started - timedelta(days=days), started + timedelta(days=1))
    patterns = await asyncio.to_thread(discover, emails, texts, min_frequency)
    async with db.transaction() as session:
        await session.execute(delete(EmailPatternRow))
        if patterns:
            await session.execute(insert(EmailPatternRow), [p | {"updated_at": started} for p in patterns])
    kinds = Counter(pattern["kind"] for pattern in patterns)
    return {
        "status": "completed",
        "analyzed_at": started.isoformat(),
        "days": days,
        "emails_analyzed": len(emails),
        "emails_clustered": min(len(texts), MAX_CLUSTERED),
        "patterns_found": len(patterns),
        "by_kind": dict(kinds),
        "duration_seconds": round((utcnow() - started).total_seconds(), 3),
    }


async def stored_patterns(
    session: AsyncSession, *, days: int, category: str | None, min_frequency: int, kind: str | None, limit: int
) -> dict[str, Any]:
    pattern = EmailPatternRow
    query = select(pattern).where(
        pattern.frequency >= min_frequency, pattern.last_seen >= utcnow() - timedelta(days=days)
    )
    if category:
        query = query.where(pattern.category == category.upper())
    if kind:
        query = query.where(pattern.kind == kind)
    rows = list(await session.scalars(query.order_by(pattern.automation_potential.desc(), pattern.id).limit(limit)))
    analyzed_at = await session.scalar(select(func.max(pattern.updated_at)))
    return {
        "analyzed_at": analyzed_at.isoformat() if analyzed_at else None,
        "filters": {"days": days, "category": category, "min_frequency": min_frequency, "kind": kind},
        "total": len(rows),
        "patterns": [pattern_dict(row) for row in rows],
    }


def pattern_dict(row: EmailPatternRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "key": row.key,
        "category": row.category,
        "frequency": row.frequency,
        "first_seen": row.first_seen.isoformat() if row.first_seen else None,
        "last_seen": row.last_seen.isoformat() if row.last_seen else None,
        "automation_potential": row.automation_potential,
        "sample_subjects": row.sample_subjects,
        "suggested_automation": row.suggested_automation,
        **row.details,
    }
