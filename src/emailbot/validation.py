"""Configuration validation for `GET /config/validation`: the result every check returns and the registry of checks.

Health says whether a part works right now; validation says whether it is configured correctly and, when it is not,
what to fix, in one sentence an operator can act on. Each part of EmailBot owns its check in its own package; this
module only names them (by dotted path, imported when validation runs), so the parts import this module and never
each other, and no import cycle can form through the registry. A part that is not configured is `skipped`, not
failed.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from emailbot.runtime import Runtime

PASS, WARN, FAIL, SKIPPED = "pass", "warn", "fail", "skipped"


@dataclass
class Validation:
    status: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "details": self.details}


Check = Callable[[Runtime], Awaitable[Validation]]

CHECKS: dict[str, str] = {
    "environment": "emailbot.ops.validation:validate_environment",
    "api_access": "emailbot.auth.validation:validate_api_access",
    "m365": "emailbot.ops.validation:validate_m365",
    "email_access": "emailbot.ops.validation:validate_email_access",
    "teams": "emailbot.ops.validation:validate_teams",
    "llm": "emailbot.ops.validation:validate_llm",
    "operations": "emailbot.admin.validation:validate_operations",
    "alerting": "emailbot.ops.validation:validate_alerting",
}
"""Every validation by its name in the response, in response order; a new part adds one line here."""


def checks() -> dict[str, Check]:
    return {name: _load(target) for name, target in CHECKS.items()}


def _load(target: str) -> Check:
    module_name, _, function_name = target.partition(":")
    return cast(Check, getattr(importlib.import_module(module_name), function_name))


async def validate_configuration(runtime: Runtime) -> tuple[str, dict[str, Validation]]:
    results = {name: await check(runtime) for name, check in checks().items()}
    return overall(results), results


def overall(results: dict[str, Validation]) -> str:
    statuses = {result.status for result in results.values()}
    if FAIL in statuses:
        return "invalid"
    if WARN in statuses:
        return "warnings"
    return "valid"
