"""Cost and limits: response cache (memory and real Redis), daily budget, rate limits, token budget, breaker."""

from __future__ import annotations

import time
from typing import Any

from emailbot.classifiers.llm.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from emailbot.classifiers.llm.cache import MemoryCache, RedisCache
from emailbot.classifiers.llm.cost import DailyBudget, PriceTable
from emailbot.classifiers.llm.limits import Bucket
from emailbot.classifiers.llm.tokens import TRUNCATION_MARK, cut_to_tokens, estimate_tokens, squeeze
from tests.classifiers.conftest import make_email
from tests.classifiers.llm.conftest import BuildLLM, BuildRuntime, deliver, process_all, stored
from tests.factories import rfc822
from tests.fakes.openai_server import FakeOpenAI

PRINTER = make_email("Printer error", "The printer on floor 2 shows error 49 and prints nothing.")


async def test_the_same_email_twice_costs_one_request(make_llm: BuildLLM, openai_server: FakeOpenAI) -> None:
    classifier = make_llm(llm_prices={"fake-model": [2.5, 10.0]})
    first, second = await classifier.classify([PRINTER]) + await classifier.classify([PRINTER])
    assert len(openai_server.requests) == 1
    assert (first.category, first.confidence) == (second.category, second.confidence)
    assert first.cost > 0
    assert (second.cost, second.prompt_tokens) == (0, 0)  # a cache hit is free


async def test_redis_cache_is_shared_between_workers(
    make_llm: BuildLLM, openai_server: FakeOpenAI, redis_prefix: tuple[Any, str]
) -> None:
    redis, prefix = redis_prefix
    workers = [make_llm(), make_llm()]
    for worker in workers:
        worker.guards.cache = RedisCache(redis, ttl_seconds=60, prefix=prefix)
    (first,) = await workers[0].classify([PRINTER])
    (second,) = await workers[1].classify([PRINTER])
    assert len(openai_server.requests) == 1
    assert second.category == first.category
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    assert len(keys) == 1
    assert 0 < await redis.ttl(keys[0]) <= 60


async def test_redis_cache_outage_is_a_miss_not_a_failure(make_llm: BuildLLM, openai_server: FakeOpenAI) -> None:
    import redis.asyncio

    dead = redis.asyncio.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    classifier = make_llm()
    classifier.guards.cache = RedisCache(dead, ttl_seconds=60)
    (result,) = await classifier.classify([PRINTER])
    assert result.classifier == "llm"
    await dead.aclose()


async def test_after_the_daily_budget_the_local_model_takes_over(make_llm: BuildLLM, openai_server: FakeOpenAI) -> None:
    classifier = make_llm(llm_prices={"fake-model": [1000.0, 1000.0]}, llm_daily_budget=0.5)
    (first,) = await classifier.classify([PRINTER])
    assert first.classifier == "llm"
    assert first.cost > 0.5
    (second,) = await classifier.classify([make_email("VPN", "VPN error again")])
    assert second.classifier == "local"
    assert "budget" in second.reasoning
    assert len(openai_server.requests) == 1


async def test_budget_in_redis_is_one_total_for_every_worker(redis_prefix: tuple[Any, str]) -> None:
    redis, prefix = redis_prefix
    one, two = DailyBudget(1.0, redis, prefix), DailyBudget(1.0, redis, prefix)
    await one.add(0.6)
    assert not await two.exhausted()
    await two.add(0.6)
    assert await one.exhausted()
    assert round(await one.spent(), 6) == 1.2


def test_price_table() -> None:
    prices = PriceTable({"gpt-4o": (2.5, 10.0)})
    assert prices.cost("gpt-4o", 1_000_000, 100_000) == 3.5
    assert prices.cost("unknown", 1000, 1000) == 0


def test_rate_limit_buckets_make_requests_wait_when_the_minute_is_used_up() -> None:
    bucket = Bucket(60)  # one a second
    assert bucket.wait_for(1) == 0
    bucket.take(60)
    assert 0.9 < bucket.wait_for(1) <= 1.0
    assert 59 < bucket.wait_for(1000) <= 60  # more than a minute's allowance waits for a full bucket


async def test_tokens_per_minute_limit_holds_a_request_back(make_llm: BuildLLM, openai_server: FakeOpenAI) -> None:
    classifier = make_llm(llm_tokens_per_minute=600_000)  # 10,000 tokens a second; a request is ~1,700
    bucket = classifier.guards.limiter.tokens
    assert bucket is not None
    bucket.level, bucket.stamp = 0.0, time.monotonic()  # this minute's allowance is spent
    emptied_at = bucket.stamp
    await classifier.classify([PRINTER])
    (request,) = openai_server.requests
    assert request.at - emptied_at >= 0.1  # it waited for ~1,000+ tokens to refill before going out


def test_text_is_squeezed_and_cut_to_the_token_budget() -> None:
    text = "word   " * 2000 + "\n\n\n\nend"
    squeezed = squeeze(text)
    assert "  " not in squeezed
    assert "\n\n\n" not in squeezed
    cut = cut_to_tokens(squeezed, 100)
    assert estimate_tokens(cut) <= 100
    assert cut.endswith(TRUNCATION_MARK)
    assert cut_to_tokens("short text", 100) == "short text"
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("ü" * 10) == 5


def test_breaker_opens_half_opens_and_closes() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=0.05)
    breaker.record_failure("boom")
    assert breaker.state == CLOSED
    breaker.record_failure("boom")
    assert breaker.state == OPEN
    assert not breaker.allow()
    deadline = time.monotonic() + 2
    while breaker.state != HALF_OPEN:
        assert time.monotonic() < deadline
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    breaker.record_failure("still down")
    assert breaker.state == OPEN  # a failed trial opens it again at once
    while breaker.state != HALF_OPEN:
        assert time.monotonic() < deadline
    assert breaker.allow()  # this trial never reports back (its task was cancelled) ...
    while not breaker.allow():  # ... so it expires after the reset time and another trial may go
        assert time.monotonic() < deadline
    breaker.record_success()
    assert (breaker.state, breaker.failures) == (CLOSED, 0)


async def test_memory_cache_is_an_lru() -> None:
    cache = MemoryCache(size=2)
    await cache.set("a", {"v": 1})
    await cache.set("b", {"v": 2})
    assert await cache.get("a") == {"v": 1}
    await cache.set("c", {"v": 3})
    assert await cache.get("b") is None
    assert await cache.get("a") == {"v": 1}


async def test_the_daily_budget_survives_a_restart(make_llm_runtime: BuildRuntime, openai_server: FakeOpenAI) -> None:
    pricey = {"llm_prices": {"fake-model": [1000.0, 1000.0]}, "llm_daily_budget": 0.5, "llm_drafting": False}
    first = make_llm_runtime(**pricey)
    deliver(first, "1.eml", rfc822("Printer error", "The printer shows error 49.", sender="a@customer.example"))
    await process_all(first)
    await first.close()
    second = make_llm_runtime(**pricey)  # a new process: nothing in memory, the database remembers
    deliver(second, "2.eml", rfc822("VPN error", "The VPN shows an error.", sender="b@customer.example"))
    await process_all(second)
    classifications = [c for _, _, c in await stored(second)]
    assert [c.classifier for c in classifications] == ["llm", "local"]
    assert "budget" in classifications[1].reasoning
    assert len(openai_server.classification_requests()) == 1
