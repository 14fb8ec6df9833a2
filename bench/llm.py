"""LLM classification: throughput against a slow fake server, and prompt tokens per email before/after cleaning.

    uv run python -m bench.llm                                  # both parts, default sizes
    uv run python -m bench.llm --throughput-only --emails 500
    uv run python -m bench.llm --tokens-only --tickets PATH.csv

Throughput: the fake OpenAI-compatible server from tests/fakes runs in its own process (so the client's event loop
and the server's do not share a GIL) and answers every request after a fixed latency (300 ms). The real
LLMClassifier (openai SDK, rate limiter, breaker, cache disabled, local model computed alongside) classifies N
distinct emails in batches of 50 handed to 4 workers, as the engine does, with at most C requests in flight
(EMAILBOT_LLM_CONCURRENCY). The ideal is C / latency emails per second. Client and server share the machine's
two cores, so the CPU time of each (the server's read from /proc) is reported per email: it says which side limits.

Tokens: for every ticket of the Tobi Bueck customer-support sample (subject + body), the estimated tokens of the
raw text (what a naive integration sends) and of the text EmailBot sends (quotes, signature and footer cut by the
parser's clean_text, whitespace squeezed, cut to EMAILBOT_LLM_MAX_INPUT_TOKENS), plus the fixed prompt overhead.
Estimates use classifiers/llm/tokens.py (chars/4 for ASCII, chars/2 otherwise); no tokenizer is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_TICKETS = PROJECT.parent / "shared" / "data" / "customer_support_tickets_tobi_bueck"
RESULTS = PROJECT / "bench" / "results"
WORKERS = 4  # EMAILBOT_WORKER_CONCURRENCY's default


def _serve(port: int, latency: float, ready: Any) -> None:
    sys.path.insert(0, str(PROJECT))
    from tests.fakes.openai_server import FakeOpenAI

    server = FakeOpenAI(latency=latency, port=port).start()
    ready.set()
    while True:  # until the parent terminates this process
        time.sleep(3600)
        del server


def _emails(n: int) -> list[Any]:
    from emailbot.domain import Address, Email

    topics = ["VPN error", "printer jam", "quote for laptops", "holiday schedule", "architecture advice"]
    return [
        Email(
            source_id=str(i),
            subject=f"{topics[i % len(topics)]} #{i}",
            sender=Address(f"user{i}@customer.example"),
            received_at=datetime.now(UTC),
            body_text=f"Hello, ticket {i}: {topics[i % len(topics)]} since this morning. Thanks, user {i}",
            clean_text=f"Hello, ticket {i}: {topics[i % len(topics)]} since this morning.",
        )
        for i in range(n)
    ]


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc: the fake server's share of the work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _classify(
    url: str, concurrency: int, emails: list[Any], batch: int, server_pid: int
) -> tuple[float, float, float, int]:
    from emailbot.classifiers.llm.factory import build_llm_classifier
    from emailbot.classifiers.local import LocalClassifier
    from emailbot.settings import load_settings

    settings = load_settings(
        classifier="llm",
        llm_base_url=url,
        llm_api_key="bench",
        llm_model="fake-model",
        llm_concurrency=concurrency,
        llm_cache_size=0,
        llm_max_retries=0,
        model_dir=RESULTS / "bench-llm-models",
    )
    classifier = build_llm_classifier(settings, LocalClassifier.from_settings(settings.model_dir))
    try:
        await classifier.classify(emails[:2])  # connection set-up and structured-output detection
        batches = [emails[start : start + batch] for start in range(0, len(emails), batch)]
        results: list[Any] = []

        async def worker() -> None:  # the engine's workers: each classifies one batch at a time
            while batches:
                results.extend(await classifier.classify(batches.pop()))

        started, cpu, server_cpu = time.perf_counter(), time.process_time(), _process_cpu(server_pid)
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        server_cpu = _process_cpu(server_pid) - server_cpu
    finally:
        await classifier.close()
    return elapsed, cpu, server_cpu, sum(1 for r in results if r.classifier == "llm")


def throughput(emails: int, latency: float, concurrencies: list[int]) -> list[dict[str, Any]]:
    from tests.fakes.net import free_port

    rows = []
    for concurrency in concurrencies:
        port = free_port()
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        server = context.Process(target=_serve, args=(port, latency, ready), daemon=True)
        server.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("fake server did not start")
            batch = 50  # the engine hands out batches of 50 to 4 workers; the LLM semaphore is shared by all
            n = max(emails, concurrency * 10)
            url = f"http://127.0.0.1:{port}/v1"
            assert server.pid is not None
            elapsed, cpu, server_cpu, by_llm = asyncio.run(_classify(url, concurrency, _emails(n), batch, server.pid))
        finally:
            server.terminate()
            server.join()
        ideal = concurrency / latency
        rate = n / elapsed
        rows.append(
            {
                "concurrency": concurrency,
                "emails": n,
                "by_llm": by_llm,
                "seconds": round(elapsed, 2),
                "emails_per_s": round(rate, 1),
                "ideal_per_s": round(ideal, 1),
                "of_ideal": round(rate / ideal, 3),
                "client_cpu_ms_per_email": round(1000 * cpu / n, 2),
                # Client and server share 2 cores here: what each needs per email says which one limits the rate.
                "server_cpu_ms_per_email": round(1000 * server_cpu / n, 2),
                "client_cpu_bound_per_s": round(n / cpu, 1) if cpu else None,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    return rows


def _tickets(folder: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                body = (row.get("body") or "").replace("\\n", "\n").replace("<br>", "\n")
                rows.append((row.get("subject") or "", body))
    return rows


def tokens(folder: Path, budget: int) -> dict[str, Any]:
    from emailbot.classifiers.llm.factory import category_prompts
    from emailbot.classifiers.llm.prompts import EmailData, classification_messages
    from emailbot.classifiers.llm.schema import answer_schema
    from emailbot.classifiers.llm.tokens import cut_to_tokens, estimate_tokens, squeeze
    from emailbot.pipeline.text import clean_text
    from emailbot.taxonomy import load_taxonomy

    tickets = _tickets(folder)
    before = [estimate_tokens(f"{subject}\n{body}") for subject, body in tickets]
    after = [
        estimate_tokens(f"{subject}\n{cut_to_tokens(squeeze(clean_text(body)), budget)}") for subject, body in tickets
    ]
    categories = category_prompts(load_taxonomy())
    names = [c.name for c in categories]
    empty = classification_messages(categories, answer_schema(names), EmailData("", "", ""), describe_schema=False)
    overhead = estimate_tokens(json.dumps(empty))
    return {
        "tickets": len(tickets),
        "before_mean": round(statistics.mean(before), 1),
        "before_p95": sorted(before)[int(0.95 * len(before))],
        "after_mean": round(statistics.mean(after), 1),
        "after_p95": sorted(after)[int(0.95 * len(after))],
        "saved": round(1 - sum(after) / sum(before), 3),
        "prompt_overhead": overhead,
        "budget": budget,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--tickets", type=Path, default=DEFAULT_TICKETS)
    parser.add_argument("--budget", type=int, default=1500)
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--tokens-only", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"at": datetime.now(UTC).isoformat()}
    if not args.tokens_only:
        result["throughput"] = throughput(args.emails, args.latency, args.concurrency)
        print(
            "| concurrency | emails | seconds | emails/s | ideal (C / latency) | of ideal | client CPU ms/email "
            "| client alone, emails per CPU-s | server CPU ms/email | load avg |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for row in result["throughput"]:
            print(
                f"| {row['concurrency']} | {row['emails']} | {row['seconds']} | {row['emails_per_s']} | "
                f"{row['ideal_per_s']} | {row['of_ideal']:.0%} | {row['client_cpu_ms_per_email']} | "
                f"{row['client_cpu_bound_per_s']} | {row['server_cpu_ms_per_email']} | {row['load_avg_1m']} |"
            )
    if not args.throughput_only:
        result["tokens"] = t = tokens(args.tickets, args.budget)
        print(
            f"\n{t['tickets']} tickets: email tokens before cleaning {t['before_mean']} (p95 {t['before_p95']}), "
            f"after {t['after_mean']} (p95 {t['after_p95']}), {t['saved']:.0%} fewer; "
            f"fixed prompt overhead {t['prompt_overhead']} tokens"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"llm-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
