"""SmtpRelay and send_reply against a real SMTP server on the loopback interface (aiosmtpd)."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import SecretStr

from emailbot.domain import Address, OutgoingMessage
from emailbot.mail.base import MailboxError
from emailbot.mail.compose import compose_reply
from emailbot.mail.maildir import MaildirMailbox, file_name_for
from emailbot.mail.smtp import DeliveryStateUnknown, SmtpRelay, relay_from_settings
from emailbot.settings import Settings
from tests.fakes.net import free_port
from tests.fakes.smtp import RecordingHandler

HELPDESK = Address("helpdesk@example.com", "IT Help Desk")


def relay_to(port: int) -> SmtpRelay:
    return SmtpRelay("127.0.0.1", port, starttls=False, timeout=5)


def reply(subject: str = "Re: VPN won't connect") -> OutgoingMessage:
    return OutgoingMessage(
        to=(Address("aisha.khan@example.org", "Aisha Khan"),),
        subject=subject,
        body_text="Restart the VPN client and try again. Grüße!\n",
        in_reply_to="<vpn-1@example.org>",
        references=("<vpn-0@example.org>",),
    )


async def test_relay_delivers_the_composed_message(smtp_server: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp_server
    await relay_to(port).deliver(compose_reply(reply(), sender=HELPDESK, key="k1"))

    assert len(handler.received) == 1
    envelope = handler.received[0]
    assert envelope.mail_from == "helpdesk@example.com"
    assert envelope.rcpt_tos == ["aisha.khan@example.org"]
    delivered = message_from_bytes(envelope.original_content, policy=policy.default)
    assert delivered["Subject"] == "Re: VPN won't connect"
    assert delivered["In-Reply-To"] == "<vpn-1@example.org>"
    assert delivered["X-EmailBot-Key"] == "k1"
    assert delivered.get_content().splitlines() == ["Restart the VPN client and try again. Grüße!"]


@pytest.mark.parametrize(("answer", "permanent"), [("550 5.7.1 Relaying denied", True), ("451 4.3.0 Try later", False)])
async def test_server_refusals_map_to_permanent_or_transient(
    smtp_server: tuple[RecordingHandler, int], answer: str, permanent: bool
) -> None:
    handler, port = smtp_server
    handler.answer = answer

    with pytest.raises(MailboxError) as caught:
        await relay_to(port).deliver(compose_reply(reply(), sender=HELPDESK, key="k"))

    assert caught.value.permanent is permanent
    assert answer.split()[0] in str(caught.value)
    assert not isinstance(caught.value, DeliveryStateUnknown)
    assert handler.received == []


async def test_an_unreachable_relay_is_transient() -> None:
    with pytest.raises(MailboxError) as caught:
        await relay_to(free_port()).deliver(compose_reply(reply(), sender=HELPDESK, key="k"))
    assert not caught.value.permanent


async def test_a_hang_up_after_data_means_the_delivery_state_is_unknown(
    smtp_server: tuple[RecordingHandler, int],
) -> None:
    handler, port = smtp_server
    handler.hang_up = True
    with pytest.raises(DeliveryStateUnknown) as caught:
        await relay_to(port).deliver(compose_reply(reply(), sender=HELPDESK, key="k"))
    assert caught.value.permanent


async def test_send_reply_delivers_once_and_files_it_in_sent(
    smtp_server: tuple[RecordingHandler, int], tmp_path: Path
) -> None:
    handler, port = smtp_server
    box = MaildirMailbox(tmp_path / "mail", HELPDESK, relay=relay_to(port))

    first = await box.send_reply("vpn-1", reply(), key="email-7:reply")
    second = await box.send_reply("vpn-1", reply(), key="email-7:reply")

    assert first == second
    assert len(handler.received) == 1
    assert (tmp_path / "mail" / ".Sent" / "cur" / f"{first}:2,S").exists()
    assert list((tmp_path / "mail" / ".Sent" / "tmp").iterdir()) == []


async def test_a_refused_send_leaves_no_marker_so_a_retry_can_send(
    smtp_server: tuple[RecordingHandler, int], tmp_path: Path
) -> None:
    handler, port = smtp_server
    box = MaildirMailbox(tmp_path / "mail", HELPDESK, relay=relay_to(port))
    handler.answer = "451 4.3.0 Try later"
    with pytest.raises(MailboxError) as caught:
        await box.send_reply("vpn-1", reply(), key="k")
    assert not caught.value.permanent
    assert list((tmp_path / "mail" / ".Sent" / "tmp").iterdir()) == []

    handler.answer = "250 OK"
    await box.send_reply("vpn-1", reply(), key="k")
    assert len(handler.received) == 1


async def test_a_crash_between_sending_and_filing_never_sends_twice(
    smtp_server: tuple[RecordingHandler, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = smtp_server
    box = MaildirMailbox(tmp_path / "mail", HELPDESK, relay=relay_to(port))

    def crash(*_: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(MaildirMailbox, "_move_into_place", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        await box.send_reply("vpn-1", reply(), key="email-7:reply")
    monkeypatch.undo()

    restarted = MaildirMailbox(tmp_path / "mail", HELPDESK, relay=relay_to(port))
    with pytest.raises(MailboxError, match="delivery state unknown") as caught:
        await restarted.send_reply("vpn-1", reply(), key="email-7:reply")

    assert caught.value.permanent
    assert len(handler.received) == 1
    marker = tmp_path / "mail" / ".Sent" / "tmp" / file_name_for("email-7:reply")
    assert marker.exists()


async def test_a_hang_up_keeps_the_marker_and_a_retry_refuses(
    smtp_server: tuple[RecordingHandler, int], tmp_path: Path
) -> None:
    handler, port = smtp_server
    handler.hang_up = True
    box = MaildirMailbox(tmp_path / "mail", HELPDESK, relay=relay_to(port))
    with pytest.raises(DeliveryStateUnknown):
        await box.send_reply("vpn-1", reply(), key="k")
    handler.hang_up = False
    with pytest.raises(DeliveryStateUnknown):
        await box.send_reply("vpn-1", reply(), key="k")
    assert len(handler.received) == 1


def test_the_password_never_shows_in_repr() -> None:
    relay = SmtpRelay("smtp.example.net", 587, "bot", "hunter2-secret")
    assert "hunter2" not in repr(relay)
    assert "hunter2" not in str(vars(relay))


def test_relay_from_settings() -> None:
    assert relay_from_settings(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    relay = relay_from_settings(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            smtp_host="smtp.example.net",
            smtp_port=465,
            smtp_username="bot",
            smtp_password=SecretStr("pw"),
            smtp_starttls=False,
        )
    )
    assert relay is not None
    assert (relay.host, relay.port, relay.username, relay.starttls) == ("smtp.example.net", 465, "bot", False)
