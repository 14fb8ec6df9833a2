"""Delta sync (paging, deltaLink, @removed, 410) and JSON batching (limits, dependsOn, per-item status)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes.m365 import M365Sandbox

PAGED = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=2'}


def _sync(graph: httpx.Client, url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], str, int]:
    """Follows nextLinks to the deltaLink; returns the items, the deltaLink and the number of pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = graph.get(url, headers=headers)
        assert response.status_code == 200, response.text
        pages += 1
        body = response.json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_delta_pages_then_reports_only_changes_and_removals(m365_sandbox: M365Sandbox) -> None:
    ids = [m365_sandbox.deliver_email(subject=f"Mail {n}") for n in range(5)]
    start = f"/users/{m365_sandbox.mailbox}/mailFolders/inbox/messages/delta?$select=subject,isRead"
    with m365_sandbox.graph() as graph:
        first, delta_link, pages = _sync(graph, start, PAGED)
        nothing, delta_link, _ = _sync(graph, delta_link, PAGED)

        new_id = m365_sandbox.deliver_email(subject="Mail 5")
        graph.patch(f"/users/{m365_sandbox.mailbox}/messages/{ids[0]}", json={"isRead": True})
        graph.post(f"/users/{m365_sandbox.mailbox}/messages/{ids[1]}/move", json={"destinationId": "archive"})
        changes, _, _ = _sync(graph, delta_link, PAGED)

    assert pages == 3
    assert [m["id"] for m in first] == ids
    assert set(first[0]) == {"@odata.type", "@odata.etag", "id", "subject", "isRead"}
    assert nothing == []
    by_id = {m["id"]: m for m in changes}
    assert set(by_id) == {new_id, ids[0], ids[1]}
    assert by_id[ids[0]]["isRead"] is True
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}
    assert by_id[new_id]["subject"] == "Mail 5"


def test_page_size_preference_is_applied_and_reported(m365_sandbox: M365Sandbox) -> None:
    for n in range(3):
        m365_sandbox.deliver_email(subject=f"Mail {n}")
    with m365_sandbox.graph() as graph:
        response = graph.get(
            f"/users/{m365_sandbox.mailbox}/mailFolders('inbox')/messages/delta()",
            headers={"Prefer": "odata.maxpagesize=1"},
        )

    assert len(response.json()["value"]) == 1
    assert "odata.maxpagesize=1" in response.headers["Preference-Applied"]
    assert "$skiptoken=" in response.json()["@odata.nextLink"]


def test_expired_or_unknown_delta_tokens_are_410_sync_state_not_found(m365_sandbox: M365Sandbox) -> None:
    m365_sandbox.deliver_email()
    start = f"/users/{m365_sandbox.mailbox}/mailFolders/inbox/messages/delta"
    with m365_sandbox.graph() as graph:
        _, delta_link, _ = _sync(graph, start, {})
        m365_sandbox.state.expire_delta_tokens()
        expired = graph.get(delta_link)
        unknown = graph.get(f"{start}?$deltatoken=made-up")
        restarted, _, _ = _sync(graph, start, {})

    assert expired.status_code == unknown.status_code == 410
    assert expired.json()["error"]["code"] == "syncStateNotFound"
    assert len(restarted) == 1


def test_a_message_moved_during_paging_is_reported_removed_next_round(m365_sandbox: M365Sandbox) -> None:
    ids = [m365_sandbox.deliver_email(subject=f"Mail {n}") for n in range(3)]
    start = f"/users/{m365_sandbox.mailbox}/mailFolders/inbox/messages/delta"
    with m365_sandbox.graph() as graph:
        page = graph.get(start, headers=PAGED).json()
        graph.post(f"/users/{m365_sandbox.mailbox}/messages/{ids[2]}/move", json={"destinationId": "deleteditems"})
        rest, delta_link, _ = _sync(graph, page["@odata.nextLink"], PAGED)
        after, _, _ = _sync(graph, delta_link, PAGED)

    assert [m["id"] for m in page["value"] + rest] == ids[:2]
    assert [(m["id"], "@removed" in m) for m in after] == [(ids[2], True)]


def _batch(graph: httpx.Client, requests: list[dict[str, Any]]) -> httpx.Response:
    return graph.post("/$batch", json={"requests": requests})


def test_batch_runs_items_with_per_item_status_and_depends_on(m365_sandbox: M365Sandbox) -> None:
    message_id = m365_sandbox.deliver_email(subject="Refund")
    base = f"/users/{m365_sandbox.mailbox}/messages/{message_id}"
    json_header = {"Content-Type": "application/json"}
    with m365_sandbox.graph() as graph:
        response = _batch(
            graph,
            [
                {"id": "1", "method": "PATCH", "url": base, "headers": json_header, "body": {"categories": ["refund"]}},
                {
                    "id": "2",
                    "method": "POST",
                    "url": f"{base}/createReply",
                    "dependsOn": ["1"],
                    "headers": json_header | {"Prefer": 'IdType="ImmutableId"'},
                    "body": {"comment": "We refund."},
                },
                {"id": "3", "method": "GET", "url": "/users/nobody@x.org/messages", "dependsOn": ["2"]},
                {
                    "id": "4",
                    "method": "PATCH",
                    "url": base,
                    "dependsOn": ["3"],
                    "headers": json_header,
                    "body": {"isRead": True},
                },
                {"id": "5", "method": "GET", "url": f"{base}/$value"},
            ],
        )

    assert response.status_code == 200
    results = {r["id"]: r for r in response.json()["responses"]}
    assert [results[i]["status"] for i in "12345"] == [200, 201, 404, 424, 200]
    assert results["2"]["body"]["isDraft"] is True
    assert results["2"]["headers"]["Preference-Applied"] == 'IdType="ImmutableId"'
    assert results["3"]["body"]["error"]["code"] == "ErrorInvalidUser"
    stored = m365_sandbox.state.message(message_id)
    assert stored.categories == ["refund"]
    assert stored.is_read is False
    assert m365_sandbox.state.request_counts()["POST /$batch"] == 1
    assert m365_sandbox.state.request_counts(include_batch_items=True)["PATCH /users/{user}/messages/{message}"] == 1


def test_batch_limits_and_malformed_batches(m365_sandbox: M365Sandbox) -> None:
    get = {"method": "GET", "url": f"/users/{m365_sandbox.mailbox}/mailFolders/inbox"}
    with m365_sandbox.graph() as graph:
        twenty = _batch(graph, [{"id": str(n), **get} for n in range(20)])
        twenty_one = _batch(graph, [{"id": str(n), **get} for n in range(21)])
        duplicate = _batch(graph, [{"id": "1", **get}, {"id": "1", **get}])
        unknown_dependency = _batch(graph, [{"id": "1", "dependsOn": ["9"], **get}])
        no_content_type = _batch(
            graph, [{"id": "1", "method": "PATCH", "url": f"/users/{m365_sandbox.mailbox}/messages/x", "body": {}}]
        )

    assert twenty.status_code == 200
    assert len(twenty.json()["responses"]) == 20
    for refused in (twenty_one, duplicate, unknown_dependency, no_content_type):
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "BadRequest"


def test_batch_items_can_be_throttled_individually(m365_sandbox: M365Sandbox) -> None:
    get = {"method": "GET", "url": f"/users/{m365_sandbox.mailbox}/mailFolders/inbox"}
    m365_sandbox.state.set_faults(fail_next=[200, 429], retry_after_seconds=7)  # 200: the envelope passes
    with m365_sandbox.graph() as graph:
        response = _batch(graph, [{"id": str(n), **get} for n in range(3)])

    statuses = [r["status"] for r in response.json()["responses"]]
    assert response.status_code == 200
    assert statuses == [429, 200, 200]
    assert response.json()["responses"][0]["headers"]["Retry-After"] == "7"


def test_independent_batch_items_run_in_parallel_and_hold_mailbox_slots(m365_sandbox: M365Sandbox) -> None:
    # Two slots, four independent items dispatched together: two of them find the mailbox busy.
    m365_sandbox.state.set_faults(mailbox_concurrency_limit=2, latency_seconds=0.3)
    get = {"method": "GET", "url": f"/users/{m365_sandbox.mailbox}/mailFolders/inbox"}
    with m365_sandbox.graph() as graph:
        parallel = _batch(graph, [{"id": str(n), **get} for n in range(4)])
        chained = _batch(graph, [{"id": str(n), **get, "dependsOn": [str(n - 1)] if n else []} for n in range(4)])

    assert sorted(r["status"] for r in parallel.json()["responses"]) == [200, 200, 429, 429]
    assert [r["status"] for r in chained.json()["responses"]] == [200, 200, 200, 200]
