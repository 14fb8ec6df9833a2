"""JSON batching (`POST /$batch`): at most 20 requests, `dependsOn`, per-item status, headers and body.

Items go through the same pipeline as single calls, independent ones up to four at a time and `dependsOn` chains in
order, so a batch item can be throttled (429 with Retry-After) while its neighbours succeed, as on Graph.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
from typing import Any

from emailbot.sandbox.graph.pipeline import Context, GraphError, GraphRequest, GraphResponse, GraphService, Handler, ok

MAX_BATCH = 20
# Graph hands up to four independent items of a batch to Outlook at once; each holds one of the mailbox's four
# concurrency slots while it runs, so a batch running beside other calls to the same mailbox can see per-item 429s.
DISPATCH_PARALLELISM = 4
_WRITE_METHODS = {"POST", "PATCH", "PUT"}


def batch_handler(service: GraphService) -> Handler:
    async def handle(ctx: Context) -> GraphResponse:
        items = _validated_items(ctx.request.json())
        results: dict[str, GraphResponse] = {}

        async def run(item: dict[str, Any]) -> None:
            depends = item.get("dependsOn") or []
            if any(results[d].status >= 400 for d in depends):
                failed = GraphError(424, "FailedDependency", "The request was not run: a request it depends on failed.")
                results[item["id"]] = failed.response(ctx.request)
            else:
                results[item["id"]] = await service.handle(_item_request(ctx.request, item), ctx.token)

        remaining = list(items)
        while remaining:
            ready = [i for i in remaining if all(d in results for d in i.get("dependsOn") or [])]
            if not ready:
                raise GraphError(400, "BadRequest", "Invalid dependsOn: the requests' dependencies form a cycle.")
            for start in range(0, len(ready), DISPATCH_PARALLELISM):
                await asyncio.gather(*(run(item) for item in ready[start : start + DISPATCH_PARALLELISM]))
            remaining = [i for i in remaining if i["id"] not in results]
        return ok({"responses": [_item_response(i["id"], results[i["id"]]) for i in items]})

    return handle


def _validated_items(payload: Any) -> list[dict[str, Any]]:
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_BATCH:
        raise GraphError(400, "BadRequest", f"The number of batch requests exceeds the maximum of {MAX_BATCH}.")
    seen: set[str] = set()
    for item in requests:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("id", "method", "url")):
            raise GraphError(400, "BadRequest", "Invalid batch payload format: every request needs id, method and url.")
        if item["id"] in seen:
            raise GraphError(400, "BadRequest", f"Batch request id '{item['id']}' is not unique.")
        seen.add(item["id"])
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        if item["method"].upper() in _WRITE_METHODS and "body" in item and "content-type" not in headers:
            raise GraphError(
                400, "BadRequest", f"Write request id : {item['id']} does not contain Content-Type header or body."
            )
    for item in requests:
        unknown = [d for d in item.get("dependsOn") or [] if d not in seen]
        if unknown:
            raise GraphError(
                400, "BadRequest", f"Request id '{item['id']}' depends on unknown request id '{unknown[0]}'."
            )
    return requests


def _item_request(envelope: GraphRequest, item: dict[str, Any]) -> GraphRequest:
    url = item["url"]
    if url.lower().startswith(("http://", "https://")):
        raise GraphError(400, "BadRequest", "Batch request urls must be relative, like '/users/{id}/messages'.")
    path, _, query = url.partition("?")
    body = item.get("body")
    return GraphRequest(
        method=item["method"].upper(),
        path="/" + path.lstrip("/"),
        query=dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
        headers={str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        | {"authorization": envelope.headers.get("authorization", "")},
        body=json.dumps(body).encode() if body is not None else b"",
        base_url=envelope.base_url,
        in_batch=True,
    )


def _item_response(item_id: str, response: GraphResponse) -> dict[str, Any]:
    headers = dict(response.headers)
    out: dict[str, Any] = {"id": item_id, "status": response.status, "headers": headers}
    if isinstance(response.body, bytes):
        headers["Content-Type"] = response.media_type
        out["body"] = base64.b64encode(response.body).decode()
    elif response.body is not None:
        headers["Content-Type"] = (
            "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
        )
        out["body"] = response.body
    return out
