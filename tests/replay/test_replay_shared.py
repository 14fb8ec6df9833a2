"""`emailbot replay` on real mail: the SpamAssassin sample as it lies (a tree of message files with a README and
an index), and an mbox built from some of its messages plus customer-support tickets (Tobias Bueck's data set)."""

from __future__ import annotations

import csv
import json
from email.utils import make_msgid
from pathlib import Path

from tests.factories import rfc822
from tests.replay.conftest import run_replay, snapshot
from tests.shared_data import shared_data

TICKETS = 12
SPAM_FILES = 6


def test_replay_of_the_spamassassin_sample(replay_env: Path) -> None:
    sample = shared_data("spamassassin_sample")
    with (sample / "index.csv").open(newline="") as handle:
        listed = sum(1 for _ in csv.DictReader(handle))
    before = snapshot(sample)
    code, output = run_replay(str(sample), "--out", str(replay_env))
    assert code == 0, output
    assert snapshot(sample) == before
    report = json.loads((replay_env / "report.json").read_text())
    assert report["total"] == listed  # every message, and not the README or the index
    assert sum(count for _, count in report["actions"]) == listed
    assert report["escalations_per_100"] == round(100 * dict(report["actions"]).get("ESCALATE", 0) / listed, 1)


def test_the_sample_index_is_not_a_labels_file(replay_env: Path) -> None:
    sample = shared_data("spamassassin_sample")
    code, output = run_replay(str(sample / "easy_ham"), "--labels", str(sample / "index.csv"), "--limit", "1")
    assert code == 2
    assert "category or action column" in output


def _mbox_part(raw: bytes) -> bytes:
    """mboxrd: a separator line, the message with its "From " lines quoted, a blank line."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    quoted = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines]
    return b"From replay-test Thu Jan  1 00:00:00 2026\n" + b"\n".join(quoted).rstrip(b"\n") + b"\n\n"


def _ticket(subject: str, body: str, message_id: str) -> bytes:
    raw = rfc822(subject, body)
    head, _, rest = raw.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"message-id:")]
    return b"\n".join([*lines, b"Message-ID: " + message_id.encode()]) + b"\n\n" + rest


def test_replay_of_an_mbox_of_real_mail_and_tickets(tmp_path: Path, replay_env: Path) -> None:
    spam = sorted(shared_data("spamassassin_sample", "spam").iterdir())[:SPAM_FILES]
    tickets_csv = shared_data("customer_support_tickets_tobi_bueck", "dataset-tickets-multi-lang3-4k.sample.csv")
    with tickets_csv.open(newline="", encoding="utf-8") as handle:
        rows = [row for row, _ in zip(csv.DictReader(handle), range(TICKETS), strict=False)]
    ids = [make_msgid(domain="tickets.example") for _ in rows]
    tickets = [
        _ticket(row["subject"] or "(ticket)", row["body"], message_id)
        for row, message_id in zip(rows, ids, strict=True)
    ]
    export = tmp_path / "export"
    export.mkdir()
    mbox = export / "team.mbox"
    mbox.write_bytes(b"".join(_mbox_part(raw) for raw in [*(p.read_bytes() for p in spam), *tickets]))
    labels = tmp_path / "labels.csv"
    labels.write_text("message_id,category\n" + "".join(f"{message_id},SUPPORT\n" for message_id in ids))
    before = snapshot(export)

    code, output = run_replay(str(mbox), "--out", str(replay_env), "--labels", str(labels))
    assert code == 0, output
    assert snapshot(export) == before
    report = json.loads((replay_env / "report.json").read_text())
    assert report["total"] == SPAM_FILES + TICKETS
    assert report["labelled"] == TICKETS
    support = next(score for score in report["category_scores"] if score["value"] == "SUPPORT")
    assert support["expected"] == TICKETS
    assert support["coverage"] == support["correct"] / TICKETS
