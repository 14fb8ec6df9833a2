"""Triage on third-party mail: what the shipped defaults do with spam, business mail and real support requests.

    uv run python -m bench.triage                       # every set, 1,000 emails a ticket set
    uv run python -m bench.triage --per-set 300 --json out.json

The local model is trained from the packaged starter and background sets exactly as at first start; nothing from
the data sets below trains it. Each email is parsed (raw RFC 822 for SpamAssassin; subject and body composed into a
plain message for the ticket sets), classified, and routed with the default settings and no operator rules.

| set | source (../shared/data) | counts as |
|---|---|---|
| spam | spamassassin_sample/spam | spam |
| business | spamassassin_sample/easy_ham + hard_ham (lists, newsletters, personal mail) | business |
| tickets-v4, tickets-v3 | customer_support_tickets_tobi_bueck (en, de; en, de, es, fr, pt) | request |
| endava | it_service_tickets_endava (real, already lower-cased and stop-word stripped) | request |

The aims (docs/classifier-evaluation.md): spam escalated or answered <= 2%; business escalated <= 5%, answered
(auto-reply) <= 3%; requests treated as needing no action <= 5%. Timings are not measured here.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from emailbot.classifiers.local import LocalClassifier
from emailbot.classifiers.training import STARTER_BACKGROUND, STARTER_SOURCE, load_source, train
from emailbot.domain import Action, Email, RawMessage, Thresholds
from emailbot.pipeline.parse import parse_email
from emailbot.pipeline.route import RoutingContext, route

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT.parent / "shared" / "data"
SEED = 7
csv.field_size_limit(10_000_000)


@dataclass(frozen=True)
class Aim:
    kind: str  # spam | business | request
    actions: frozenset[Action]
    limit: float  # the largest share allowed
    label: str


AIMS = (
    Aim("spam", frozenset({Action.ESCALATE, Action.AUTO_HANDLE}), 0.02, "spam escalated or auto-answered"),
    Aim("business", frozenset({Action.ESCALATE}), 0.05, "business mail escalated"),
    Aim("business", frozenset({Action.AUTO_HANDLE}), 0.03, "business mail auto-answered"),
    Aim("request", frozenset({Action.NO_ACTION}), 0.05, "requests left as needing no action"),
)


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str
    emails: list[Email]


def spamassassin(folder: Path, groups: Sequence[str]) -> list[Email]:
    files = sorted(path for group in groups for path in (folder / group).iterdir() if path.is_file())
    return [parse_email(RawMessage(path.name, path.read_bytes())) for path in files]


def as_email(source_id: str, subject: str, body: str) -> Email:
    """A ticket's text as the plain email a person would have sent (no list or spam headers)."""
    message = EmailMessage()
    message["From"] = "requester@customer.example"
    message["To"] = "helpdesk@example.com"
    message["Subject"] = " ".join(subject.split())
    message.set_content(body.replace("\\n", "\n").replace("<br>", "\n") or " ")
    return parse_email(RawMessage(source_id, message.as_bytes()))


def tobi_bueck(path: Path, limit: int) -> list[Email]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    chosen = _sample(rows, limit)
    return [as_email(f"{path.stem}:{n}", row["subject"] or "", row["body"] or "") for n, row in enumerate(chosen)]


def endava(path: Path, limit: int) -> list[Email]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    chosen = _sample(rows, limit)
    return [as_email(f"endava:{n}", "", row["Document"]) for n, row in enumerate(chosen)]


def _sample(rows: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    return rows if len(rows) <= limit else random.Random(SEED).sample(rows, limit)


def samples(data: Path, per_set: int) -> list[Sample]:
    spam_folder = data / "spamassassin_sample"
    tickets = data / "customer_support_tickets_tobi_bueck"
    return [
        Sample("spam", "spam", spamassassin(spam_folder, ["spam"])),
        Sample("business", "business", spamassassin(spam_folder, ["easy_ham", "hard_ham"])),
        Sample("tickets-v4", "request", tobi_bueck(tickets / "dataset-tickets-multi-lang-4-20k.sample.csv", per_set)),
        Sample("tickets-v3", "request", tobi_bueck(tickets / "dataset-tickets-multi-lang3-4k.sample.csv", per_set)),
        Sample(
            "endava",
            "request",
            endava(data / "it_service_tickets_endava" / "all_tickets_processed_improved_v3.csv", per_set),
        ),
    ]


def shipped_classifier() -> LocalClassifier:
    """The model a fresh install trains at first start: the packaged starter set and background."""
    examples, background = load_source(STARTER_SOURCE), load_source(STARTER_BACKGROUND)
    return LocalClassifier(train(examples, source=STARTER_SOURCE, background=background))


def default_context() -> RoutingContext:
    return RoutingContext(thresholds=Thresholds(), mailbox_address="helpdesk@example.com")


def decide(classifier: LocalClassifier, emails: Sequence[Email], context: RoutingContext) -> Counter[Action]:
    classifications = classifier.classify_batch(emails)
    return Counter(route(email, c, context).action for email, c in zip(emails, classifications, strict=True))


def shares(sample: Sample, counts: Counter[Action]) -> Iterator[tuple[Aim, float]]:
    total = max(1, sum(counts.values()))
    for aim in AIMS:
        if aim.kind == sample.kind:
            yield aim, sum(counts[action] for action in aim.actions) / total


def markdown(results: list[tuple[Sample, Counter[Action]]]) -> str:
    actions = list(Action)
    lines = [
        "| set | emails | " + " | ".join(a.value for a in actions) + " | aim | measured | limit |",
        "|---|---:|" + "---:|" * len(actions) + "---|---:|---:|",
    ]
    for sample, counts in results:
        cells = " | ".join(str(counts[a]) for a in actions)
        for aim, share in shares(sample, counts):
            verdict = "ok" if share <= aim.limit else "MISSED"
            lines.append(
                f"| {sample.name} | {len(sample.emails)} | {cells} | {aim.label} | {share:.1%} ({verdict}) |"
                f" {aim.limit:.0%} |"
            )
    return "\n".join(lines)


def run(data: Path, per_set: int) -> list[tuple[Sample, Counter[Action]]]:
    """Every set's decisions, counted, with the shipped model and the default routing."""
    classifier, context = shipped_classifier(), default_context()
    return [(sample, decide(classifier, sample.emails, context)) for sample in samples(data, per_set)]


def pooled(results: list[tuple[Sample, Counter[Action]]]) -> dict[str, Counter[Action]]:
    """Decisions per kind of mail (spam, business, request), the sets of a kind added up."""
    kinds: dict[str, Counter[Action]] = {}
    for sample, counts in results:
        kinds.setdefault(sample.kind, Counter()).update(counts)
    return kinds


def misses(results: list[tuple[Sample, Counter[Action]]]) -> list[str]:
    """The aims missed over each kind of mail as a whole, as sentences; empty when every aim is met."""
    missed = []
    for kind, counts in pooled(results).items():
        for aim, share in shares(Sample(kind, kind, []), counts):
            if share > aim.limit:
                missed.append(f"{aim.label}: {share:.1%} > {aim.limit:.0%} ({dict(counts)})")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-set", type=int, default=1000, help="emails drawn from each ticket set (seeded)")
    parser.add_argument("--json", type=Path, help="also write the counts as JSON here")
    options = parser.parse_args()
    results = run(options.data, options.per_set)
    sys.stdout.write(markdown(results) + "\n")
    for kind, counts in pooled(results).items():
        for aim, share in shares(Sample(kind, kind, []), counts):
            sys.stdout.write(f"all {kind}: {aim.label} {share:.1%} (limit {aim.limit:.0%})\n")
    if options.json:
        document = {sample.name: {a.value: counts[a] for a in Action} for sample, counts in results}
        options.json.write_text(json.dumps(document, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
