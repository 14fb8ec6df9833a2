"""The replay's report: numbers, samples of each outcome and, with labels, precision and coverage; as JSON and
as one self-contained HTML page (no script, no external resource; every email text escaped by Jinja2)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from emailbot.replay.labels import Expected, Score, match, scores
from emailbot.replay.run import ReplayRun
from emailbot.store.outcomes import Outcome

SAMPLES_PER_ACTION = 5
SAMPLE_TEXT = 600
AUTOMATIC = "AUTO_HANDLE"
ESCALATE = "ESCALATE"
NOISE = "NO_ACTION"  # mail that asks nothing of the desk; counted once the noise rule produces it


@dataclass(frozen=True, slots=True)
class Sample:
    source_id: str
    subject: str
    sender: str
    category: str
    confidence: float | None
    reason: str
    reply: str


@dataclass
class Report:
    source: str
    created_at: str
    total: int
    seconds: float
    emails_per_second: float
    automation_rate: float  # % of emails answered automatically
    escalations_per_100: float
    noise: int  # emails left alone as noise (NO_ACTION)
    malformed: int
    conversations: int
    actions: list[tuple[str, int]]
    categories: list[tuple[str, int]]
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    labelled: int = 0
    category_scores: list[Score] = field(default_factory=list)
    action_scores: list[Score] = field(default_factory=list)


def build_report(source: str, run: ReplayRun, labels: dict[str, Expected] | None = None) -> Report:
    outcomes = run.outcomes
    total = len(outcomes)
    actions = Counter(outcome.action or f"not finished ({outcome.status})" for outcome in outcomes)
    report = Report(
        source=source,
        created_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        total=total,
        seconds=round(run.seconds, 2),
        emails_per_second=round(total / run.seconds, 1) if run.seconds > 0 else 0.0,
        automation_rate=_percent(actions[AUTOMATIC], total),
        escalations_per_100=_percent(actions[ESCALATE], total),
        noise=actions[NOISE],
        malformed=sum(1 for outcome in outcomes if outcome.parse_error),
        conversations=len({o.conversation_id for o in outcomes if o.conversation_id is not None}),
        actions=actions.most_common(),
        categories=Counter(outcome.category or "unclassified" for outcome in outcomes).most_common(),
        samples=_samples(outcomes),
    )
    if labels is not None:
        pairs = match(outcomes, labels)
        report.labelled = len(pairs)
        report.category_scores = scores([(expected.category, o.category) for o, expected in pairs])
        report.action_scores = scores([(expected.action, o.action) for o, expected in pairs])
    return report


def _percent(part: int, total: int) -> float:
    return round(100 * part / total, 1) if total else 0.0


def _samples(outcomes: list[Outcome]) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for outcome in outcomes:
        chosen = samples.setdefault(outcome.action or "not finished", [])
        if len(chosen) < SAMPLES_PER_ACTION:
            chosen.append(
                Sample(
                    source_id=outcome.source_id,
                    subject=outcome.subject[:200],
                    sender=outcome.sender or "",
                    category=outcome.category or "",
                    confidence=outcome.confidence,
                    reason=outcome.reason or outcome.parse_error or "",
                    reply=(outcome.response_text or "")[:SAMPLE_TEXT],
                )
            )
    return samples


def write_report(report: Report, folder: Path) -> tuple[Path, Path]:
    """`report.json` and `report.html` in `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "report.json", folder / "report.html"
    json_path.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def render_html(report: Report) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("emailbot.replay", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    return environment.get_template("report.html.j2").render(report=report, percent=_ratio)


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def summary_lines(report: Report) -> list[str]:
    lines = [
        f"{report.total} emails in {report.seconds:.1f} s ({report.emails_per_second:.0f}/s)",
        f"automation rate {report.automation_rate:.1f}%, escalations per 100 emails {report.escalations_per_100:.1f}, "
        f"noise {report.noise}, malformed {report.malformed}",
        "actions: " + ", ".join(f"{action} {count}" for action, count in report.actions),
    ]
    if report.labelled:
        lines.append(f"{report.labelled} labelled emails matched")
    return lines
