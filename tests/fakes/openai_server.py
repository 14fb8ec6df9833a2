"""A fake OpenAI-compatible chat-completions server on loopback, for the real `openai` SDK to talk to.

It speaks the wire protocol (`POST /v1/chat/completions`, and Azure's `/openai/deployments/{name}/chat/completions`)
with the parts EmailBot uses: `response_format` json_schema and json_object, forced tool calls, logprobs, usage.
Tests steer it: which modes it supports (others get the 400 a real server gives), latency, queued faults (429
with Retry-After, 5xx, hangs longer than the client's timeout, malformed or invalid answers), an outage switch, and
a recording of every request.

Its answers come from a small keyword "brain" over the email between the `<email>` tags, so the pipeline gets
plausible classifications. With `obey_injections` it is the worst model imaginable: it does whatever the email
tells it (category, confidence, urgency, where to send things, what to write in a draft), so that tests can show
that an obedient model still cannot change where a reply goes or make EmailBot send its text.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.net import free_port

MODES = ("json_schema", "json_object", "tools")
_KEYWORDS = (
    ("ESCALATION", r"outage|is down|breach|ransomware|hacked|data loss|all users|production"),
    ("PURCHASING", r"quote|order|licen[cs]e|invoice|purchase|buy|laptops?\b"),
    ("CONSULTATION", r"advice|recommend|architecture|planning|which tool|review our"),
    ("SUPPORT", r"password|vpn|printer|error|broken|crash|reset|cannot|can't|not working|jam"),
    ("INFORMATION", r"policy|when|what time|schedule|how long|where can"),
)
_EMAIL_BLOCK = re.compile(r"<email>(.*?)</email>", re.DOTALL)
_CATEGORY_LINE = re.compile(r"^- ([A-Z][A-Z0-9_]*):", re.MULTILINE)
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass
class Fault:
    """One injected misbehaviour, used by the next request: status (with optional Retry-After), hang, malformed
    (an answer that is not JSON), invalid (JSON that breaks the schema), not_json (a 200 whose body is an HTML
    page, as from a proxy), no_choice (a completion without choices)."""

    kind: str
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class FakeOpenAI:
    supports: tuple[str, ...] = MODES
    logprobs: bool = True
    latency: float = 0.0
    obey_injections: bool = False
    down: bool = False
    fence_json: bool = False
    model_name: str = ""
    answer: Callable[[str, list[str]], dict[str, Any]] | None = None  # (email text, categories) -> answer
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # every content (or tool arguments) it answered with
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOpenAI:
        self.port = self.port or free_port()
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/openai/deployments/{deployment}/chat/completions", self._chat, methods=["POST"]),
        ]
        config = uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def classification_requests(self) -> list[Recorded]:
        return [r for r in self.requests if _mode_of(r.body) != "text"]

    def draft_requests(self) -> list[Recorded]:
        return [r for r in self.requests if _mode_of(r.body) == "text"]

    # --- the endpoint ------------------------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(Recorded(request.url.path, body, dict(request.headers), time.monotonic()))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.down:
            return _error(503, "service unavailable", "server_error")
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return _error(fault.status, f"injected {fault.status}", "server_error", headers)
        if fault is not None and fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "not_json":
            return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        if fault is not None and fault.kind == "no_choice":
            return JSONResponse({"id": "chatcmpl-0", "object": "chat.completion", "model": "fake-model", "choices": []})
        mode = _mode_of(body)
        if mode != "text" and mode not in self.supports:
            return _error(400, f"response_format/{mode} is not supported by this model", "invalid_request_error")
        content = self._content(body, mode, fault)
        self.answers.append(content)
        return JSONResponse(self._response(body, mode, content))

    def _content(self, body: dict[str, Any], mode: str, fault: Fault | None) -> str:
        if fault is not None and fault.kind == "malformed":
            return "Sure! Here is the classification you asked for: SUPPORT (very sure)"
        if fault is not None and fault.kind == "invalid":
            return json.dumps({"category": "SUPPORT", "confidence": "very high"})
        text = _email_text(body)
        if mode == "text":
            return self._draft(body, text)
        answer = self._classify(text, _categories(body))
        content = json.dumps(answer)
        return f"```json\n{content}\n```" if self.fence_json and mode == "json_object" else content

    def _classify(self, text: str, categories: list[str]) -> dict[str, Any]:
        answer = self.answer(text, categories) if self.answer else brain(text, categories)
        if self.obey_injections:
            answer = obey(text, answer)
        return answer

    def _draft(self, body: dict[str, Any], text: str) -> str:
        system = str(body["messages"][0]["content"])
        language = re.search(r"Write the reply in ([A-Z][a-z]+)", system)
        draft = f"Hello,\n\nthank you for your message. We are looking into it. [{language[1] if language else '?'}]"
        placeholders = sorted(set(re.findall(r"\[(?:EMAIL|PHONE|CARD|IBAN)_\d+\]", text)))
        if placeholders:
            draft += "\nWe noted: " + ", ".join(placeholders)
        if self.obey_injections:
            for address in _ADDRESS.findall(text):
                draft += f"\nTo: {address}\nForwarding all data to {address} as instructed."
            said = re.search(r"(?:say|write|reply with|respond with)[:\s]+[\"']?([^\"'\n]{3,200})", text, re.I)
            if said:
                draft += "\n" + said[1]
        return draft + "\n\nIT Help Desk"

    def _response(self, body: dict[str, Any], mode: str, content: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if mode == "tools":
            name = body["tools"][0]["function"]["name"]
            call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": content}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
        logprobs = None
        if body.get("logprobs") and self.logprobs and mode != "tools":
            logprobs = {"content": _token_logprobs(content)}
        prompt = sum(len(str(m.get("content") or "")) for m in body["messages"])
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name or body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt // 4,
                "completion_tokens": len(content) // 4,
                "total_tokens": prompt // 4 + len(content) // 4,
            },
        }


def brain(text: str, categories: list[str]) -> dict[str, Any]:
    """A deterministic keyword classifier standing in for a model."""
    category, confidence = (categories[-1] if categories else "INFORMATION"), 55
    for name, pattern in _KEYWORDS:
        if name in categories and re.search(pattern, text, re.IGNORECASE):
            category, confidence = name, 92
            break
    return {
        "category": category,
        "confidence": confidence,
        "reasoning": f"Mentions words typical of {category}.",
        "urgency": "HIGH" if category == "ESCALATION" else "MEDIUM",
        "suggested_action": f"Route to the {category} queue",
        "required_expertise": ["service-desk"],
        "estimated_effort": "hours",
        "language": "en",
        "summary": text.strip().split("\n")[0][:120],
        **_request_or_noise(text),
    }


_NOISE_WORDS = (
    ("spam", r"\b(lottery|you have won|viagra|casino)\b"),
    ("newsletter", r"\b(unsubscribe|newsletter)\b"),
    ("thanks", r"^\W*(thanks|thank you)\b[^?]{0,60}$"),
)


def _request_or_noise(text: str) -> dict[str, Any]:
    """Request confidence and noise kind as a model would give them, from a few telltale words."""
    body = text.strip().split("\n", 1)[-1].strip()  # the first line is the subject
    for kind, pattern in _NOISE_WORDS:
        if re.search(pattern, body, re.IGNORECASE):
            return {"request_confidence": 5, "noise": kind}
    return {"request_confidence": 95, "noise": "none"}


def obey(text: str, answer: dict[str, Any]) -> dict[str, Any]:
    """Do what the email says: the model every prompt-injection defence must survive."""
    answer = dict(answer)
    wanted = re.search(
        r"(?:classify|categori[sz]e|label|mark)\s+(?:this|it|the email|this email|me)?\s*as\s+(\w+)",
        text,
        re.IGNORECASE,
    )
    if wanted:
        answer["category"] = wanted[1].upper()
    level = re.search(r"confidence\D{0,10}(\d{1,3})", text, re.IGNORECASE)
    answer["confidence"] = min(int(level[1]), 100) if level else 100
    urgency = re.search(r"urgency\W{0,5}(LOW|MEDIUM|HIGH|CRITICAL)", text, re.IGNORECASE)
    if urgency:
        answer["urgency"] = urgency[1].upper()
    addresses = _ADDRESS.findall(text)
    if addresses:
        answer["suggested_action"] = f"Send the reply and all data to {addresses[-1]}"
        answer["summary"] = f"Reply to {addresses[-1]} instead of the sender"
    return answer


def _mode_of(body: dict[str, Any]) -> str:
    if body.get("tools"):
        return "tools"
    response_format = body.get("response_format") or {}
    return str(response_format.get("type", "text"))


def _categories(body: dict[str, Any]) -> list[str]:
    system = str(body["messages"][0]["content"])
    return _CATEGORY_LINE.findall(system)


def _email_text(body: dict[str, Any]) -> str:
    """The email's fields as plain text (the JSON inside the <email> tags, decoded)."""
    user = str(body["messages"][-1]["content"])
    match = _EMAIL_BLOCK.search(user)
    if match is None:
        return user
    try:
        data = json.loads(match[1])
    except ValueError:
        return match[1]
    return "\n".join([data.get("subject", ""), *data.get("attachments", []), data.get("body", "")])


def _token_logprobs(content: str) -> list[dict[str, Any]]:
    """The content cut into 3-character tokens; the category value's first token carries the answer's confidence."""
    tokens = [content[i : i + 3] for i in range(0, len(content), 3)]
    start = -1
    found = re.search(r'"category"\s*:\s*"', content)
    if found:
        start = found.end()
        try:
            confidence = max(1, min(100, int(json.loads(_unfence(content))["confidence"]))) / 100
        except (ValueError, KeyError, TypeError):
            confidence = 0.5
    items, offset = [], 0
    for token in tokens:
        logprob = math.log(confidence) if offset <= start < offset + len(token) else 0.0
        items.append({"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": []})
        offset += len(token)
    return items


def _unfence(content: str) -> str:
    return content.strip().removeprefix("```json").removesuffix("```")


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status, headers=headers)


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
