"""The demo mail: enough realistic, parseable samples to show every route on a first run, written once."""

from __future__ import annotations

import os
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from emailbot.demo import DEMO_MAIL, write_demo_mail
from emailbot.domain import Address
from emailbot.mail.maildir import MaildirMailbox

REQUIRED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def new_files(root: Path) -> list[Path]:
    return sorted((root / "new").iterdir())


def test_writes_a_dozen_or_more_parseable_messages(tmp_path: Path) -> None:
    written = write_demo_mail(tmp_path)

    files = new_files(tmp_path)
    assert written == len(files) == len(DEMO_MAIL) >= 12
    wellformed = [parse(path.read_bytes()) for path in files if b"legacy.example.com" not in path.read_bytes()]
    assert len(wellformed) == len(files) - 1
    for message in wellformed:
        assert all(message[name] for name in REQUIRED_HEADERS), message["Subject"]
        assert [a.addr_spec for a in message["To"].addresses] == ["helpdesk@example.com"]
        assert message["Date"].datetime.tzinfo is not None
        assert not message.defects
        assert message.get_body(preferencelist=("plain",)) is not None


def test_a_second_run_writes_nothing_unless_forced(tmp_path: Path) -> None:
    first = write_demo_mail(tmp_path)
    assert write_demo_mail(tmp_path) == 0
    assert len(new_files(tmp_path)) == first
    assert write_demo_mail(tmp_path, force=True) == first
    assert len(new_files(tmp_path)) == 2 * first


def test_mail_already_read_also_blocks_the_demo(tmp_path: Path) -> None:
    write_demo_mail(tmp_path, count=1)
    only = new_files(tmp_path)[0]
    os.rename(only, tmp_path / "cur" / f"{only.name}:2,S")
    assert write_demo_mail(tmp_path) == 0


def test_count_writes_that_many_repeating_samples_with_distinct_ids(tmp_path: Path) -> None:
    assert write_demo_mail(tmp_path, count=3) == 3
    assert write_demo_mail(tmp_path / "more", count=len(DEMO_MAIL) + 5) == len(DEMO_MAIL) + 5
    ids = [parse(p.read_bytes())["Message-ID"] for p in new_files(tmp_path / "more")]
    wellformed_ids = [i for i in ids if i and "legacy.example.com" not in i]
    assert len(set(wellformed_ids)) == len(wellformed_ids)


def test_samples_cover_every_route() -> None:
    shows = [sample.shows for sample in DEMO_MAIL]
    assert shows.count("routine") >= 5
    assert shows.count("ambiguous") >= 2
    assert shows.count("escalation") >= 1
    assert {"noise", "loop-guard", "escaping", "malformed"} <= set(shows)
    subjects = " ".join(sample.subject.lower() for sample in DEMO_MAIL)
    for topic in ("password", "printer", "vpn", "licence", "hours"):
        assert topic in subjects


def test_loop_guard_samples_carry_the_machine_mail_headers(tmp_path: Path) -> None:
    write_demo_mail(tmp_path)
    messages = [parse(p.read_bytes()) for p in new_files(tmp_path)]
    auto_replies = [m for m in messages if m["Auto-Submitted"] == "auto-replied"]
    newsletters = [m for m in messages if m["List-Id"]]
    assert len(auto_replies) == 1
    assert len(newsletters) == 1
    assert all(m["Auto-Submitted"] is None for m in newsletters)


def test_the_escaping_sample_carries_script_in_subject_and_bodies(tmp_path: Path) -> None:
    write_demo_mail(tmp_path)
    messages = [parse(p.read_bytes()) for p in new_files(tmp_path)]
    hostile = [m for m in messages if "<script>" in str(m["Subject"])]
    assert len(hostile) == 1
    html = hostile[0].get_body(preferencelist=("html",))
    assert html is not None
    assert "<script>" in html.get_content()
    assert "onerror" in html.get_content()


def test_the_malformed_sample_parses_with_defects(tmp_path: Path) -> None:
    write_demo_mail(tmp_path)
    broken = [parse(p.read_bytes()) for p in new_files(tmp_path) if b"legacy.example.com" in p.read_bytes()]
    assert len(broken) == 1
    assert broken[0].defects


async def test_the_mailbox_fetches_the_demo_in_sample_order(tmp_path: Path) -> None:
    write_demo_mail(tmp_path)
    box = MaildirMailbox(tmp_path, Address("helpdesk@example.com"))
    fetched = await box.fetch_new(limit=100)
    assert len(fetched) == len(DEMO_MAIL)
    subjects = [str(parse(m.raw)["Subject"]) for m in fetched[:3]]
    assert subjects == [sample.subject for sample in DEMO_MAIL[:3]]
