"""Every Prometheus metric EmailBot exports, in one registry served by `GET /metrics`.

Parts that count something (the LLM classifier, the Graph client, the alert sink) import their metric from here,
so names, labels and help texts live in one place. Email counts and processing times are fed from the database
(`ops/metrics_feed.py`), so they are right whichever process did the work.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EMAILS_PROCESSED = Counter(
    "emailbot_emails_processed",
    "Emails whose processing ended, by final status, action and category.",
    ["status", "action", "category"],
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "emailbot_processing_seconds",
    "Time from a worker's first claim of an email to the end of its processing.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
QUEUE_SIZE = Gauge("emailbot_queue_size", "Emails stored but not yet completed or failed.", registry=REGISTRY)

LLM_TOKENS = Counter(
    "emailbot_llm_tokens",
    "Tokens used by LLM calls, by model and kind (prompt or completion).",
    ["model", "kind"],
    registry=REGISTRY,
)
LLM_COST = Counter("emailbot_llm_cost_usd", "Estimated cost of LLM calls in US dollars.", ["model"], registry=REGISTRY)
GRAPH_REQUESTS = Counter(
    "emailbot_graph_requests",
    "Microsoft Graph requests, by HTTP method and response status code.",
    ["method", "status"],
    registry=REGISTRY,
)
GRAPH_THROTTLES = Counter(
    "emailbot_graph_throttles", "Graph answers 429/503 that made EmailBot wait (Retry-After).", registry=REGISTRY
)

ALERTS_RAISED = Counter(
    "emailbot_alerts_raised",
    "Alerts raised, by severity and component (repeats within the cool-down not counted).",
    ["severity", "component"],
    registry=REGISTRY,
)
ALERT_DELIVERIES = Counter(
    "emailbot_alert_deliveries", "Alert webhook deliveries, by outcome.", ["outcome"], registry=REGISTRY
)

HTTP_REQUESTS = Counter(
    "emailbot_http_requests",
    "API requests, by method, route and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "emailbot_http_request_seconds",
    "API response time, by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)

CPU_PERCENT = Gauge("emailbot_cpu_percent", "Host CPU use at the last monitoring cycle.", registry=REGISTRY)
MEMORY_PERCENT = Gauge("emailbot_memory_percent", "Host memory use at the last monitoring cycle.", registry=REGISTRY)
DISK_PERCENT = Gauge("emailbot_disk_percent", "Use of the disk holding the data directory.", registry=REGISTRY)
STORAGE_BYTES = Gauge("emailbot_storage_bytes", "Database plus mailbox size.", registry=REGISTRY)
