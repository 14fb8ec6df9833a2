"""`emailbot replay` on messages the tests write: a Maildir and an mbox, a conversation, hostile text, labels.

These need no third-party data, so the command is tested on any clone.
"""

from __future__ import annotations

import email
import json
from pathlib import Path

from emailbot.replay.labels import scores
from tests.factories import rfc822
from tests.replay.conftest import run_replay, snapshot

QUESTION = rfc822("How do I reset my password?", "I forgot my password. How do I reset it?")
HOSTILE_SUBJECT = "<script>alert('x')</script> invoice"


def _messages() -> list[bytes]:
    question_id = str(email.message_from_bytes(QUESTION)["Message-ID"])
    answer = rfc822("still broken", "Restarting did not help.", headers={"References": question_id})
    hostile = rfc822(HOSTILE_SUBJECT, "Please see <b>attached</b> & pay.", sender="Mallory <m@evil.example>")
    listmail = rfc822("Weekly digest", "News of the week.", headers={"List-Id": "<news.example.com>"})
    return [QUESTION, answer, hostile, listmail, b"\x00\xff not a message at all"]


def _maildir(root: Path) -> Path:
    for part in ("new", "cur", "tmp", ".Sent/cur"):
        (root / part).mkdir(parents=True)
    for number, raw in enumerate(_messages()[:4]):
        (root / "cur" / f"{number}.host:2,S").write_bytes(raw)
    (root / "tmp" / "half-delivered").write_bytes(_messages()[0])
    (root / ".Sent" / "cur" / "ours").write_bytes(_messages()[0])
    (root / "README").write_text("not mail")
    return root


def _mbox(path: Path) -> Path:
    parts = []
    for raw in _messages()[:4]:
        body = raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
        parts.append(b"From sender@example.com Thu Jan  1 00:00:00 2026\n" + body + b"\n")
    path.write_bytes(b"".join(parts))
    return path


def test_replay_of_a_maildir_reports_and_leaves_it_untouched(tmp_path: Path, replay_env: Path) -> None:
    maildir = _maildir(tmp_path / "export")
    before = snapshot(maildir)
    code, output = run_replay(str(maildir), "--out", str(replay_env))
    assert code == 0, output
    assert snapshot(maildir) == before
    report = json.loads((replay_env / "report.json").read_text())
    assert report["total"] == 4  # tmp/, .Sent and README are not incoming mail
    actions = dict(report["actions"])
    assert sum(actions.values()) == 4
    answer = next(s for samples in report["samples"].values() for s in samples if s["subject"] == "still broken")
    assert "automatic answer" in answer["reason"]  # one automatic reply per conversation, in a replay too
    assert report["conversations"] == 3
    assert report["automation_rate"] == round(100 * actions.get("AUTO_HANDLE", 0) / 4, 1)
    html = (replay_env / "report.html").read_text()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; invoice" in html
    assert "Report:" in output


def test_replay_of_an_mbox_limits_and_numbers_messages(tmp_path: Path, replay_env: Path) -> None:
    (tmp_path / "export").mkdir()
    mbox = _mbox(tmp_path / "export" / "export.mbox")
    before = snapshot(mbox.parent)
    code, output = run_replay(str(mbox), "--out", str(replay_env), "--limit", "3")
    assert code == 0, output
    report = json.loads((replay_env / "report.json").read_text())
    assert report["total"] == 3
    ids = sorted(s["source_id"] for samples in report["samples"].values() for s in samples)
    assert ids == ["mbox:1", "mbox:2", "mbox:3"]
    assert snapshot(mbox.parent) == before


def test_labels_give_precision_and_coverage(tmp_path: Path, replay_env: Path) -> None:
    maildir = _maildir(tmp_path / "export")
    labels = tmp_path / "labels.csv"
    labels.write_text('path,expected_action\n"cur/0.host:2,S",AUTO_HANDLE\n"cur/1.host:2,S",HUMAN_REVIEW\n')
    code, output = run_replay(str(maildir), "--out", str(replay_env), "--labels", str(labels))
    assert code == 0, output
    report = json.loads((replay_env / "report.json").read_text())
    assert report["labelled"] == 2
    by_value = {score["value"]: score for score in report["action_scores"]}
    assert by_value["HUMAN_REVIEW"]["coverage"] == 1.0
    assert by_value["HUMAN_REVIEW"]["expected"] == 1
    assert report["category_scores"] == []
    assert "Against the labels" in (replay_env / "report.html").read_text()


def test_scores_per_value() -> None:
    pairs = [("A", "A"), ("A", "B"), ("B", "B"), ("B", None), (None, "A"), ("C", "A")]
    result = {score.value: score for score in scores(pairs)}
    assert (result["A"].expected, result["A"].given, result["A"].correct) == (2, 2, 1)
    assert (result["A"].precision, result["A"].coverage) == (0.5, 0.5)
    assert (result["B"].precision, result["B"].coverage) == (0.5, 0.5)
    assert (result["C"].precision, result["C"].coverage) == (None, 0.0)


def test_bad_input_is_a_clear_error(tmp_path: Path, replay_env: Path) -> None:
    code, output = run_replay(str(tmp_path / "missing"), "--out", str(replay_env))
    assert code == 2
    assert "does not exist" in output
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\nx,spam\n")
    code, output = run_replay(str(_maildir(tmp_path / "export")), "--labels", str(labels))
    assert code == 2
    assert "needs an id column" in output
    assert not replay_env.exists()
