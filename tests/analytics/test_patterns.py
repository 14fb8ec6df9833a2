"""Pattern discovery on a generated mailbox processed by the real pipeline: the planted families are found."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import select

from emailbot.analytics.patterns import automation_potential, normalize_subject
from emailbot.runtime import Runtime
from emailbot.store.tables import EmailRow
from tests.analytics.planted import write_mailbox

PER_FAMILY = 15


async def _process_planted_mailbox(runtime: Runtime, tmp_path: Path) -> dict[int, str]:
    families = write_mailbox(tmp_path / "mailbox", per_family=PER_FAMILY, noise=40)
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    async with runtime.db.transaction() as session:
        rows = await session.execute(select(EmailRow.id, EmailRow.subject))
        return {email_id: families[subject] for email_id, subject in rows}


async def test_planted_families_are_found_as_clusters(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    family_of = await _process_planted_mailbox(runtime, tmp_path)
    assert len(family_of) == 3 * PER_FAMILY + 40

    analysis = (await client.post("/internal/patterns/analyze", params={"days": 30})).json()
    assert analysis["emails_analyzed"] == len(family_of)
    assert analysis["by_kind"]["cluster"] >= 3

    clusters = (await client.get("/analytics/patterns", params={"kind": "cluster", "min_frequency": 2})).json()
    found = {}
    for pattern in clusters["patterns"]:
        members = Counter(family_of[email_id] for email_id in pattern["email_ids"])
        family, count = members.most_common(1)[0]
        assert count == len(pattern["email_ids"]), f"a cluster mixes {dict(members)}"
        if family != "noise":
            found[family] = pattern
    assert set(found) == {"password", "vpn", "invoice"}
    for pattern in found.values():
        assert pattern["frequency"] == PER_FAMILY
        assert set(pattern) >= {
            "frequency",
            "first_seen",
            "last_seen",
            "automation_potential",
            "sample_subjects",
            "suggested_automation",
            "category",
        }
        assert 0 <= pattern["automation_potential"] <= 100
        assert 1 <= len(pattern["sample_subjects"]) <= 5
    assert "vpn" in found["vpn"]["key"]


async def test_recurring_senders_and_subjects_and_filters(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await _process_planted_mailbox(runtime, tmp_path)
    await client.post("/internal/patterns/analyze")

    senders = (await client.get("/analytics/patterns", params={"kind": "sender"})).json()["patterns"]
    billing = next(p for p in senders if p["key"] == "billing@supplier.example")
    assert billing["frequency"] == PER_FAMILY
    assert billing["category_consistency"] >= 0.8  # one kind of email from one sender
    assert billing["suggested_automation"]
    subjects = (await client.get("/analytics/patterns", params={"kind": "subject"})).json()["patterns"]
    assert any(p["key"] == "invoice # for order #" and p["frequency"] == PER_FAMILY for p in subjects)

    frequent = (await client.get("/analytics/patterns", params={"min_frequency": PER_FAMILY + 1})).json()
    assert frequent["total"] == 0
    category = billing["category"]
    filtered = (await client.get("/analytics/patterns", params={"category": category.lower()})).json()["patterns"]
    assert filtered
    assert all(p["category"] == category for p in filtered)


def test_subjects_are_normalized() -> None:
    assert normalize_subject("RE: Fwd: Invoice 4711 overdue") == "invoice # overdue"
    assert normalize_subject("AW: WG:  Ticket #12345   printer") == "ticket # printer"
    assert normalize_subject("Re[2]: VPN drops") == "vpn drops"


def test_automation_potential_grows_with_frequency_consistency_and_confidence() -> None:
    low = automation_potential(2, 0.5, 40)
    assert automation_potential(50, 0.5, 40) > low
    assert automation_potential(2, 1.0, 40) > low
    assert automation_potential(2, 0.5, 95) > low
    assert automation_potential(1000, 1.0, 100) == 100
