"""One client for every OpenAI-compatible server: OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp server.

Structured output is asked for in the best way the server supports: a strict JSON schema (`response_format`
json_schema), else JSON mode (`json_object`, with the schema in the prompt), else a forced tool call. In `auto` mode
the first 400 answer to a mode moves that model to the next one, once, and the choice is remembered; an operator
who knows the server can force a mode with `EMAILBOT_LLM_STRUCTURED_OUTPUT`.

Retries with exponential backoff on 408/409/429/5xx and connection errors, honouring `Retry-After`, are the
openai SDK's own (`max_retries`); what is left after them is an `LLMUnavailable`, which the circuit breaker counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from emailbot.classifiers.llm.confidence import TokenLogprob
from emailbot.classifiers.llm.prompts import PROBE_MESSAGES, Message
from emailbot.classifiers.llm.schema import TOOL_NAME
from emailbot.settings import Settings

log = logging.getLogger(__name__)

MODES = ("json_schema", "json_object", "tools")
CLASSIFY_MAX_TOKENS = 600
USER_AGENT_HEADER = {"X-Client": "emailbot"}


class LLMUnavailable(Exception):
    """The server could not be reached or kept failing (after the SDK's retries)."""


class LLMRejected(Exception):
    """The server refused the request itself (400 in every mode it was tried in): retrying will not help."""


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    prompt_tokens: int
    completion_tokens: int
    mode: str
    model: str
    logprobs: tuple[TokenLogprob, ...] = ()
    latency_ms: float = 0.0


@dataclass
class ServerProfile:
    """What we learned about a model's server: the structured-output mode that works, whether logprobs do."""

    mode: str | None = None
    logprobs: bool = True
    rejections: list[str] = field(default_factory=list)


class LLMClient:
    def __init__(
        self,
        sdk: AsyncOpenAI,
        model: str,
        *,
        mode: str = "auto",
        logprobs: bool = True,
        endpoint: str = "",
    ) -> None:
        self.sdk = sdk
        self.model = model
        self.forced_mode = None if mode == "auto" else mode
        self.want_logprobs = logprobs
        self.endpoint = endpoint
        self.profiles: dict[str, ServerProfile] = {}
        self._detecting = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        common: dict[str, Any] = {
            "api_key": key,
            "timeout": settings.llm_timeout_seconds,
            "max_retries": settings.llm_max_retries,
            "default_headers": USER_AGENT_HEADER,
        }
        sdk: AsyncOpenAI
        if settings.llm_azure_endpoint:
            sdk = AsyncAzureOpenAI(
                azure_endpoint=settings.llm_azure_endpoint,
                azure_deployment=settings.llm_azure_deployment,
                api_version=settings.llm_azure_api_version,
                **common,
            )
            model, endpoint = settings.llm_azure_deployment or "", settings.llm_azure_endpoint
        else:
            sdk = AsyncOpenAI(base_url=settings.llm_base_url, **common)
            model, endpoint = settings.llm_model or "", settings.llm_base_url or ""
        mode, logprobs = settings.llm_structured_output, settings.llm_logprobs
        return cls(sdk, model, mode=mode, logprobs=logprobs, endpoint=endpoint)

    @property
    def profile(self) -> ServerProfile:
        return self.profiles.setdefault(self.model, ServerProfile(mode=self.forced_mode, logprobs=self.want_logprobs))

    async def structured(self, messages_for: Callable[[str], list[Message]], schema: dict[str, Any]) -> Completion:
        """A JSON answer for the schema; `messages_for(mode)` builds the messages each mode needs."""
        if self.profile.mode is None:
            async with self._detecting:  # one request finds the mode; the batch's others wait and reuse it
                return await self._structured(messages_for, schema)
        return await self._structured(messages_for, schema)

    async def _structured(self, messages_for: Callable[[str], list[Message]], schema: dict[str, Any]) -> Completion:
        profile = self.profile
        candidates = [profile.mode] if profile.mode else list(MODES)
        for mode in candidates:
            try:
                completion = await self._structured_in(mode, messages_for(mode), schema, profile)
            except openai.BadRequestError as exc:
                if self.forced_mode or mode == candidates[-1]:
                    raise LLMRejected(f"server rejected the request ({mode}): {_message(exc)}") from exc
                profile.rejections.append(f"{mode}: {_message(exc)}")
                log.warning("LLM %s: %s output rejected (HTTP 400); trying the next mode", self.model, mode)
                continue
            profile.mode = mode
            return completion
        raise LLMRejected("no structured-output mode is available")  # pragma: no cover - loop always returns

    async def _structured_in(
        self, mode: str, messages: list[Message], schema: dict[str, Any], profile: ServerProfile
    ) -> Completion:
        options: dict[str, Any] = {"temperature": 0, "max_tokens": CLASSIFY_MAX_TOKENS}
        if mode == "json_schema":
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "classification", "schema": schema, "strict": True},
            }
        elif mode == "json_object":
            options["response_format"] = {"type": "json_object"}
        else:
            function = {"name": TOOL_NAME, "description": "Record the classification", "parameters": schema}
            options["tools"] = [{"type": "function", "function": {**function, "strict": True}}]
            options["tool_choice"] = {"type": "function", "function": {"name": TOOL_NAME}}
        use_logprobs = profile.logprobs and mode != "tools"  # logprobs cover content, not tool-call arguments
        if use_logprobs:
            options["logprobs"] = True
        try:
            return await self._create(mode, messages, options)
        except openai.BadRequestError as exc:
            if use_logprobs and "logprob" in _message(exc).lower():
                profile.logprobs = False
                log.warning("LLM %s: logprobs not supported; confidence will be the model's own", self.model)
                del options["logprobs"]
                return await self._create(mode, messages, options)
            raise

    async def text(self, messages: list[Message], max_tokens: int = 800) -> Completion:
        """Free text (a reply draft)."""
        return await self._create("text", messages, {"temperature": 0.3, "max_tokens": max_tokens})

    async def _create(self, mode: str, messages: list[Message], options: dict[str, Any]) -> Completion:
        """One chat completion through the SDK's transport (retries, errors, Azure's deployment paths), but with
        the body sent as built and the answer read as plain JSON.

        `chat.completions.create` walks every parameter through its type-driven transform (the schema and the
        messages, ~1,000 calls per request) and builds a pydantic model of the answer (~130 logprob entries):
        together about half of the client's CPU per email (bench/README.md). Our body is already plain JSON.
        """
        started = time.perf_counter()
        body = {"model": self.model, "messages": messages, **options}
        try:
            response = await self.sdk.post("/chat/completions", cast_to=httpx.Response, body=body)
            data = response.json()
        except openai.BadRequestError:
            raise
        except openai.APIError as exc:
            raise LLMUnavailable(f"{type(exc).__name__}: {_message(exc)}") from exc
        except ValueError as exc:  # not JSON: a proxy's error page, a truncated body
            raise LLMUnavailable(f"the server's answer is not JSON: {exc}") from exc
        latency = (time.perf_counter() - started) * 1000
        return _completion(data, mode, self.model, latency)

    async def probe(self) -> Completion:
        """One tiny JSON request: is the model reachable, and which structured-output mode works?"""
        schema = {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
            "additionalProperties": False,
        }
        return await self.structured(lambda mode: PROBE_MESSAGES, schema)

    async def close(self) -> None:
        await self.sdk.close()


def _completion(data: Any, mode: str, model: str, latency_ms: float) -> Completion:
    """A chat-completion answer (the JSON the server sent) as a Completion; a malformed one is LLMUnavailable."""
    try:
        choice = data["choices"][0] if isinstance(data, dict) and data.get("choices") else None
        if choice is None:
            raise LLMUnavailable("the server answered without a choice")
        message = choice.get("message") or {}
        content = message.get("content") or ""
        tool_calls = message.get("tool_calls")
        if mode == "tools" and tool_calls:
            content = tool_calls[0]["function"].get("arguments") or ""
        entries = (choice.get("logprobs") or {}).get("content") or ()
        tokens = tuple(TokenLogprob(str(item["token"]), float(item["logprob"])) for item in entries)
        usage = data.get("usage") or {}
        return Completion(
            content=str(content),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            mode=mode,
            model=str(data.get("model") or model),
            logprobs=tokens,
            latency_ms=latency_ms,
        )
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise LLMUnavailable(f"the server's answer is not a chat completion: {type(exc).__name__}") from exc


def _message(exc: openai.APIError) -> str:
    """The server's error message, one line, without echoing request contents."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]).split("\n")[0][:300]
    return str(exc.message).split("\n")[0][:300]
