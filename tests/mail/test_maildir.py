"""MaildirMailbox: what each protocol call leaves on disk, read back through Python's own mailbox module."""

from __future__ import annotations

import mailbox
import os
import random
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from emailbot.domain import Address, OutgoingMessage
from emailbot.mail.base import Mailbox, MailboxError
from emailbot.mail.maildir import MaildirMailbox, file_name_for, mailbox_from_settings
from emailbot.settings import Settings

HELPDESK = Address("helpdesk@example.com", "IT Help Desk")
BASE_TIME = 1_700_000_000


def deliver(root: Path, name: str, *, subject: str = "Printer jammed", mtime: float = BASE_TIME) -> Path:
    """Put a message into new/ as a delivery agent would."""
    path = root / "new" / name
    path.write_bytes(
        f"From: Tom <tom@example.org>\nTo: helpdesk@example.com\nSubject: {subject}\n"
        f"Message-ID: <{name}@example.org>\n\nIt jams.\n".encode()
    )
    os.utime(path, (mtime, mtime))
    return path


def names_in(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def outgoing(**overrides: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "to": (Address("tom@example.org", "Tom"),),
        "subject": "Re: Printer jammed",
        "body_text": "Open tray 2 and remove the paper.\n",
        "in_reply_to": "<m1@example.org>",
        "references": ("<m0@example.org>",),
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


@pytest.fixture
def box(tmp_path: Path) -> MaildirMailbox:
    return MaildirMailbox(tmp_path / "mail", HELPDESK)


def test_it_satisfies_the_protocol_and_creates_maildir_plus_plus_folders(box: MaildirMailbox) -> None:
    assert isinstance(box, MaildirMailbox)
    mailbox_like: Mailbox = box
    assert mailbox_like.name == "local"
    assert mailbox_like.address == "helpdesk@example.com"
    stdlib = mailbox.Maildir(box.root, create=False)
    assert sorted(stdlib.list_folders()) == ["Drafts", "Sent"]
    assert (box.root / ".Sent" / "maildirfolder").exists()


def test_an_existing_empty_directory_is_completed(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    box = MaildirMailbox(tmp_path / "volume", HELPDESK)
    for part in ("tmp", "new", "cur", ".Sent/cur", ".Drafts/tmp"):
        assert (box.root / part).is_dir()


async def test_fetch_new_returns_raw_bytes_oldest_first_with_utc_mtime(box: MaildirMailbox) -> None:
    deliver(box.root, "c", mtime=BASE_TIME + 20)
    deliver(box.root, "b", mtime=BASE_TIME + 10)
    deliver(box.root, "a2", mtime=BASE_TIME + 10)
    first = deliver(box.root, "z", mtime=BASE_TIME)

    fetched = await box.fetch_new(limit=10)

    assert [m.source_id for m in fetched] == ["z", "a2", "b", "c"]
    assert fetched[0].raw == first.read_bytes()
    assert fetched[0].received_at is not None
    assert fetched[0].received_at.timestamp() == BASE_TIME
    assert fetched[0].received_at.utcoffset() is not None
    assert [m.source_id for m in await box.fetch_new(limit=2)] == ["z", "a2"]


async def test_fetch_new_keeps_returning_until_acknowledged(box: MaildirMailbox) -> None:
    deliver(box.root, "one")
    deliver(box.root, "two", mtime=BASE_TIME + 1)
    assert len(await box.fetch_new(limit=10)) == 2
    assert len(await box.fetch_new(limit=10)) == 2

    await box.acknowledge(["one"])

    assert [m.source_id for m in await box.fetch_new(limit=10)] == ["two"]
    assert names_in(box.root / "cur") == ["one:2,"]


async def test_acknowledge_ignores_ids_already_acknowledged_or_unknown(box: MaildirMailbox) -> None:
    deliver(box.root, "one")
    await box.acknowledge(["one"])
    await box.acknowledge(["one", "never-existed"])
    assert names_in(box.root / "cur") == ["one:2,"]
    assert names_in(box.root / "new") == []


async def test_acknowledge_finds_a_file_delivered_with_an_info_suffix(box: MaildirMailbox) -> None:
    deliver(box.root, "odd:2,")
    assert [m.source_id for m in await box.fetch_new(limit=10)] == ["odd"]
    await box.acknowledge(["odd"])
    assert names_in(box.root / "cur") == ["odd:2,"]


async def test_mark_handled_sets_seen_and_flagged_on_disk(box: MaildirMailbox) -> None:
    deliver(box.root, "routine")
    deliver(box.root, "needs-person")
    await box.acknowledge(["routine", "needs-person"])

    await box.mark_handled("routine", "SUPPORT", flagged=False)
    await box.mark_handled("needs-person", "ESCALATION", flagged=True)

    assert names_in(box.root / "cur") == ["needs-person:2,FS", "routine:2,S"]
    stdlib = mailbox.Maildir(box.root, create=False)
    assert stdlib["needs-person"].get_flags() == "FS"
    assert stdlib["routine"].get_flags() == "S"


async def test_mark_handled_is_idempotent_and_moves_from_new(box: MaildirMailbox) -> None:
    deliver(box.root, "m")
    await box.mark_handled("m", "SUPPORT", flagged=True)
    await box.mark_handled("m", "SUPPORT", flagged=True)
    await box.mark_handled("m", "SUPPORT", flagged=False)  # never removes a flag
    assert names_in(box.root / "new") == []
    assert names_in(box.root / "cur") == ["m:2,FS"]


async def test_mark_handled_keeps_flags_a_person_set(box: MaildirMailbox) -> None:
    deliver(box.root, "m")
    await box.acknowledge(["m"])
    os.rename(box.root / "cur" / "m:2,", box.root / "cur" / "m:2,R")
    await box.mark_handled("m", "SUPPORT", flagged=False)
    assert names_in(box.root / "cur") == ["m:2,RS"]


async def test_mark_handled_moves_to_a_folder_when_asked(box: MaildirMailbox) -> None:
    deliver(box.root, "spam")
    await box.mark_handled("spam", "NOISE", flagged=False, move_to="Junk")
    await box.mark_handled("spam", "NOISE", flagged=False, move_to="Junk")  # gone from the inbox: a no-op
    assert names_in(box.root / "new") == names_in(box.root / "cur") == []
    assert names_in(box.root / ".Junk" / "cur") == ["spam:2,S"]
    assert mailbox.Maildir(box.root, create=False).get_folder("Junk")["spam"].get_flags() == "S"


@pytest.mark.parametrize("folder", ["../outside", ".hidden", "a/b", "x..y"])
async def test_a_folder_name_that_could_leave_the_maildir_is_refused(box: MaildirMailbox, folder: str) -> None:
    deliver(box.root, "m")
    with pytest.raises(MailboxError, match="invalid folder name") as raised:
        await box.mark_handled("m", "NOISE", flagged=False, move_to=folder)
    assert raised.value.permanent
    assert names_in(box.root / "new") == ["m"]


async def test_mark_handled_on_a_deleted_message_is_a_no_op(box: MaildirMailbox) -> None:
    await box.mark_handled("gone", "SUPPORT", flagged=False)
    assert names_in(box.root / "cur") == []


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", ".hidden", "x:2,S", ""])
async def test_ids_that_could_leave_the_mailbox_are_refused(box: MaildirMailbox, bad_id: str) -> None:
    with pytest.raises(MailboxError) as caught:
        await box.acknowledge([bad_id])
    assert caught.value.permanent
    with pytest.raises(MailboxError):
        await box.mark_handled(bad_id, "SUPPORT", flagged=False)


async def test_send_reply_writes_one_parseable_file_in_sent_and_is_idempotent(box: MaildirMailbox) -> None:
    first = await box.send_reply("m1", outgoing(), key="email-1:reply")
    second = await box.send_reply("m1", outgoing(), key="email-1:reply")

    assert first == second == file_name_for("email-1:reply")
    sent = mailbox.Maildir(box.root, create=False).get_folder("Sent")
    assert sent.keys() == [first]
    stored = sent[first]
    assert stored.get_flags() == "S"
    assert stored.get_subdir() == "cur"
    parsed = message_from_bytes(sent.get_bytes(first), policy=policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["tom@example.org"]
    assert parsed["Subject"] == "Re: Printer jammed"
    assert parsed["In-Reply-To"] == "<m1@example.org>"
    assert parsed["References"].split() == ["<m0@example.org>", "<m1@example.org>"]
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["X-EmailBot-Key"] == "email-1:reply"
    assert names_in(box.root / ".Sent" / "tmp") == []


async def test_send_reply_stays_idempotent_after_a_person_flags_the_sent_copy(box: MaildirMailbox) -> None:
    ref = await box.send_reply("m1", outgoing(), key="k")
    os.rename(box.root / ".Sent" / "cur" / f"{ref}:2,S", box.root / ".Sent" / "cur" / f"{ref}:2,FS")
    assert await box.send_reply("m1", outgoing(), key="k") == ref
    assert names_in(box.root / ".Sent" / "cur") == [f"{ref}:2,FS"]


async def test_different_keys_make_different_files(box: MaildirMailbox) -> None:
    await box.send_reply("m1", outgoing(), key="a")
    await box.send_reply("m1", outgoing(), key="b")
    assert len(names_in(box.root / ".Sent" / "cur")) == 2


async def test_without_a_relay_a_write_killed_half_way_is_simply_redone_once(box: MaildirMailbox) -> None:
    """Nothing left the machine, so a staging file left by a killed process must not block the reply."""
    leftover = box.root / ".Sent" / "tmp" / f"{file_name_for('k')}.12345.dead"
    leftover.write_bytes(b"half-finished")

    ref = await box.send_reply("m1", outgoing(), key="k")
    again = await box.send_reply("m1", outgoing(), key="k")

    assert again == ref
    assert names_in(box.root / ".Sent" / "cur") == [f"{ref}:2,S"]


async def test_a_fresh_process_sees_replies_written_by_an_earlier_one(box: MaildirMailbox) -> None:
    ref = await box.send_reply("m1", outgoing(), key="k")
    restarted = MaildirMailbox(box.root, box.sender)
    assert await restarted.send_reply("m1", outgoing(), key="k") == ref
    assert names_in(box.root / ".Sent" / "cur") == [f"{ref}:2,S"]


async def test_an_unusable_recipient_is_a_permanent_error(box: MaildirMailbox) -> None:
    with pytest.raises(MailboxError) as caught:
        await box.send_reply("m1", outgoing(to=(Address("not an address"),)), key="k")
    assert caught.value.permanent
    assert names_in(box.root / ".Sent" / "tmp") == []


async def test_save_draft_writes_one_draft_flagged_d(box: MaildirMailbox) -> None:
    ref = await box.save_draft("m1", outgoing(body_html="<p>Open tray 2.</p>"), key="email-1:draft")
    again = await box.save_draft("m1", outgoing(), key="email-1:draft")

    assert ref == again
    drafts = mailbox.Maildir(box.root, create=False).get_folder("Drafts")
    assert drafts.keys() == [ref]
    assert drafts[ref].get_flags() == "D"
    parsed = message_from_bytes(drafts.get_bytes(ref), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Re: Printer jammed"
    assert names_in(box.root / ".Drafts" / "tmp") == []
    assert names_in(box.root / ".Sent" / "cur") == []


async def test_fetch_new_lists_10000_files_and_returns_the_100_oldest(box: MaildirMailbox) -> None:
    order = list(range(10_000))
    random.Random(7).shuffle(order)
    new = box.root / "new"
    for position, age in enumerate(order):
        path = new / f"{position:05d}.M{age}.host"
        path.write_bytes(b"Subject: x\n\nx\n")
        os.utime(path, (BASE_TIME + age, BASE_TIME + age))

    started = time.perf_counter()
    fetched = await box.fetch_new(limit=100)
    elapsed = time.perf_counter() - started

    assert len(fetched) == 100
    ages = [int(m.source_id.split(".M")[1].split(".")[0]) for m in fetched]
    assert ages == list(range(100))
    assert elapsed < 5


def test_mailbox_from_settings_uses_the_configured_address_and_relay(tmp_path: Path) -> None:
    plain = mailbox_from_settings(
        Settings(_env_file=None, local_mailbox_dir=tmp_path / "a", mailbox_address="it@example.net")  # type: ignore[call-arg]
    )
    assert plain.address == "it@example.net"
    assert plain.sender.name == "IT Help Desk"
    assert plain.relay is None

    relayed = mailbox_from_settings(
        Settings(_env_file=None, local_mailbox_dir=tmp_path / "b", smtp_host="smtp.example.net", smtp_port=2525)  # type: ignore[call-arg]
    )
    assert relayed.relay is not None
    assert (relayed.relay.host, relayed.relay.port) == ("smtp.example.net", 2525)


async def test_a_burst_is_handed_out_batch_after_batch_and_later_mail_is_seen(box: MaildirMailbox) -> None:
    for index in range(5):
        deliver(box.root, f"old{index}", mtime=BASE_TIME + index)
    first = await box.fetch_new(limit=2)
    deliver(box.root, "late", mtime=BASE_TIME - 100)  # arrives while the burst is handed out
    second = await box.fetch_new(limit=2)
    third = await box.fetch_new(limit=2)
    assert [m.source_id for m in first + second + third] == ["old0", "old1", "old2", "old3", "old4"]
    await box.acknowledge([m.source_id for m in first + second])  # old4 was handed out but not acknowledged
    assert [m.source_id for m in await box.fetch_new(limit=10)] == ["late", "old4"]
