"""The embedded default connector: a local Maildir that a mail server delivers into (or the demo writes into).

Layout (Maildir++, as read by Dovecot, mutt and Python's `mailbox.Maildir`):
  new/     arriving mail; fetch_new reads it, acknowledge moves it to cur/ with no flags
  cur/     stored mail; mark_handled adds the Seen flag (and Flagged when a person should look)
  .Sent/   replies, one file per idempotency key, flag S
  .Drafts/ drafts for a person to check, one file per idempotency key, flag D

Messages are moved with single renames rather than through `mailbox.Maildir`, whose lookups re-list the whole
folder whenever it changed: with thousands of files in new/ that would make each call scan them all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from emailbot.domain import Address, OutgoingMessage, RawMessage
from emailbot.mail.base import MailboxError
from emailbot.mail.compose import compose_reply, render_reply
from emailbot.mail.durable import DirectorySync, sync_directory, write_durably, write_into_folder
from emailbot.mail.smtp import DeliveryStateUnknown, SmtpRelay, relay_from_settings
from emailbot.settings import Settings

log = logging.getLogger(__name__)

SENT_FOLDER = "Sent"
DRAFTS_FOLDER = "Drafts"
INFO_SEPARATOR = ":2,"
"""Maildir's separator between a message's unique name and its flags."""

_SAFE_KEY = re.compile(r"[^/\\:\x00-\x1f.][^/\\:\x00-\x1f]*")


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    path: Path
    mtime: float


class MaildirMailbox:
    """A Mailbox on a local Maildir; with a relay, replies are also delivered by SMTP (at most once)."""

    name = "local"

    def __init__(self, root: Path, address: Address, relay: SmtpRelay | None = None) -> None:
        self.root = Path(root)
        self.address = address.email
        self.sender = address
        self.relay = relay
        self._sending: set[str] = set()
        self._written_names: dict[Path, set[str]] = {}
        self._backlog: list[_Entry] = []  # the rest of the last listing of new/, newest first
        self._cur_syncs: dict[Path, DirectorySync] = {}
        ensure_maildir(self.root, folders=(SENT_FOLDER, DRAFTS_FOLDER))

    # -- reading -------------------------------------------------------------------------------------------

    async def fetch_new(self, limit: int) -> Sequence[RawMessage]:
        """The oldest `limit` messages of new/ (by mtime, then name), nothing parsed.

        A burst of thousands is listed once and handed out from that listing, batch after batch, instead of
        listing and sorting the whole folder for every batch; mail arriving meanwhile is seen at the next
        listing, once the backlog is used up. A message handed out but never acknowledged stays in new/ and
        is found again then.
        """
        return await asyncio.to_thread(self._fetch_new, limit)

    def _fetch_new(self, limit: int) -> list[RawMessage]:
        if not self._backlog:
            self._backlog = sorted(self._list_new(), key=lambda entry: (entry.mtime, entry.path.name), reverse=True)
        oldest = [self._backlog.pop() for _ in range(min(max(limit, 0), len(self._backlog)))]
        messages = []
        for entry in oldest:
            try:
                raw = entry.path.read_bytes()
            except FileNotFoundError:  # acknowledged or removed since the listing
                continue
            received = datetime.fromtimestamp(entry.mtime, UTC)
            messages.append(RawMessage(source_id=entry.key, raw=raw, received_at=received))
        return messages

    def _list_new(self) -> list[_Entry]:
        entries = []
        with os.scandir(self.root / "new") as listing:
            for item in listing:
                if item.name.startswith("."):
                    continue
                try:
                    if item.is_file():
                        entries.append(_Entry(_key_of(item.name), Path(item.path), item.stat().st_mtime))
                except FileNotFoundError:
                    continue
        return entries

    # -- marking -------------------------------------------------------------------------------------------

    async def acknowledge(self, source_ids: Sequence[str]) -> None:
        """Move each message from new/ to cur/ without flags: Maildir's "seen by a client, not yet read".

        Ids no longer in new/ were acknowledged before and are skipped.
        """
        keys = [_checked_key(source_id) for source_id in source_ids]
        if keys:
            await asyncio.to_thread(self._acknowledge, keys)

    def _acknowledge(self, keys: list[str]) -> None:
        unusual = [key for key in keys if not self._rename_plain_new(key)]
        if not unusual:
            return
        by_key = {_key_of(name): name for name in os.listdir(self.root / "new")}
        for key in unusual:
            if key in by_key:
                _rename_if_present(self.root / "new" / by_key[key], self.root / "cur" / _cur_name(key, ""))

    def _rename_plain_new(self, key: str) -> bool:
        """The common case, a delivery agent's plain file name in new/: one rename, no listing."""
        return _rename_if_present(self.root / "new" / key, self.root / "cur" / _cur_name(key, ""))

    async def mark_handled(self, source_id: str, category: str, *, flagged: bool, move_to: str | None = None) -> None:
        """Add flag S (and F when `flagged`) to the message, moving it to cur/ when it is still in new/, or to the
        Maildir++ folder `.<move_to>/cur/` when `move_to` is given.

        Flags are only ever added, so a flag a person set is kept and a repeated call changes nothing.
        `category` is not written: Maildir has no standard place for it (keywords are a Dovecot extension
        that other readers ignore), so the category lives in EmailBot's database only.
        A message that is gone (a person deleted or moved it) is logged and otherwise ignored.
        """
        key = _checked_key(source_id)
        wanted = "SF" if flagged else "S"
        current = self._locate(key)
        if current is None:
            log.warning("mark_handled: message %s is no longer in the mailbox", key)
            return
        flags = "".join(sorted(set(_flags_of(current.name)) | set(wanted)))
        target = self.root / "cur" / _cur_name(key, flags)
        if move_to:
            target = _subfolder(self.root, move_to) / "cur" / _cur_name(key, flags)
        if current != target:
            _rename_if_present(current, target)

    def _locate(self, key: str) -> Path | None:
        """Where message `key` is now: tries the names EmailBot itself gives, then lists new/ and cur/."""
        for candidate in (
            self.root / "new" / key,
            *(self.root / "cur" / _cur_name(key, flags) for flags in ("", "S", "FS")),
        ):
            if candidate.exists():
                return candidate
        for folder in ("new", "cur"):
            for name in os.listdir(self.root / folder):
                if _key_of(name) == key:
                    return self.root / folder / name
        return None

    # -- writing -------------------------------------------------------------------------------------------

    async def save_draft(self, source_id: str, draft: OutgoingMessage, key: str) -> str:
        """Store the draft in Drafts (flag D) under a name derived from `key`; a second call is a no-op."""
        folder = self.root / f".{DRAFTS_FOLDER}"
        name = file_name_for(key)
        if name in self._sending:  # the write runs in a thread: a second call must not start another
            raise MailboxError(f"draft {name} is being written right now; try again later")
        self._sending.add(name)
        try:
            if await self._written(folder, name):
                return name
            await self._write_into(folder, name, self._render(draft, key), flags="D")
            self._written_names[folder].add(name)
        finally:
            self._sending.discard(name)
        log.info("draft %s saved for message %s", name, source_id)
        return name

    async def send_reply(self, source_id: str, reply: OutgoingMessage, key: str) -> str:
        """Store the reply in Sent (flag S) and, with a relay, deliver it. Again with `key`: does nothing.

        Without a relay nothing leaves the machine, so the reply is simply written atomically, like a draft.
        With a relay it is sent at most once, across crashes too: before talking to the relay the message is
        written to .Sent/tmp/
        as a marker, and only moved into .Sent/cur/ once the relay accepted it. A marker found on a later call
        means an earlier attempt stopped half-way, when nobody knows whether the relay got the message; rather
        than risk a duplicate reply, that raises DeliveryStateUnknown (permanent) for a person to resolve (move the
        file into cur/ if it was delivered, delete it to let EmailBot send again). Mail clients may clean
        tmp/ files older than 36 hours, which would then allow a resend.
        """
        folder = self.root / f".{SENT_FOLDER}"
        name = file_name_for(key)
        if name in self._sending:
            raise MailboxError(f"reply {name} is being sent right now; try again later")
        self._sending.add(name)
        try:
            if await self._written(folder, name):
                return name
            if self.relay is None:
                await self._write_into(folder, name, self._render(reply, key), flags="S")
            else:
                await self._send_once(folder / "tmp" / name, reply, key)
            self._written_names[folder].add(name)
        finally:
            self._sending.discard(name)
        log.info("reply %s sent for message %s", name, source_id)
        return name

    async def _send_once(self, marker: Path, reply: OutgoingMessage, key: str) -> None:
        message = self._compose(reply, key)
        try:
            write_durably(marker, message.as_bytes())
        except FileExistsError:
            raise DeliveryStateUnknown(_unknown_state_advice(marker)) from None
        if self.relay is not None:
            try:
                await self.relay.deliver(message)
            except DeliveryStateUnknown as exc:
                raise DeliveryStateUnknown(f"{exc}. {_unknown_state_advice(marker)}") from exc
            except MailboxError:
                marker.unlink(missing_ok=True)  # the relay answered "no": nothing went out
                raise
            # Any other exception (a bug, a cancellation) leaves the marker: the outcome is unknown.
        self._move_into_place(marker, _cur_name(marker.name, "S"))

    async def _written(self, folder: Path, name: str) -> bool:
        """Whether a message with this name is already in the folder, whatever flags a person gave it since.

        The folder is listed once per process and the index kept up to date with what this process writes, so
        a reply costs no directory listing; a restart lists again and so sees what earlier processes wrote.
        """
        if folder not in self._written_names:
            self._written_names[folder] = await asyncio.to_thread(_names_in, folder)
        return name in self._written_names[folder]

    def _move_into_place(self, marker: Path, final_name: str) -> None:
        os.rename(marker, marker.parent.parent / "cur" / final_name)
        sync_directory(marker.parent.parent / "cur")

    async def _write_into(self, folder: Path, name: str, data: bytes, *, flags: str) -> None:
        """Write off the event loop (the fsyncs block for ~0.5 ms each); cur/'s fsync is shared (group commit)."""
        cur_sync = self._cur_syncs.setdefault(folder, DirectorySync(folder / "cur"))
        await asyncio.to_thread(write_into_folder, folder, name, data, flags=flags, cur_sync=cur_sync)

    def _compose(self, message: OutgoingMessage, key: str) -> EmailMessage:
        try:
            return compose_reply(message, sender=self.sender, key=key)
        except ValueError as exc:
            raise MailboxError(f"cannot compose the reply: {exc}", permanent=True) from exc

    def _render(self, message: OutgoingMessage, key: str) -> bytes:
        try:
            return render_reply(message, sender=self.sender, key=key)
        except ValueError as exc:
            raise MailboxError(f"cannot compose the reply: {exc}", permanent=True) from exc


def ensure_maildir(root: Path, folders: Sequence[str] = ()) -> None:
    """Create the Maildir at `root` and its Maildir++ `folders` (`.Name`), completing any that are partial.

    Done by hand because `mailbox.Maildir(create=True)` skips a directory that exists but is empty, such as
    a freshly mounted volume. The result is exactly what `mailbox.Maildir(root).get_folder(name)` reads.
    """
    for directory in (root, *(root / f".{folder}" for folder in folders)):
        for part in ("tmp", "new", "cur"):
            (directory / part).mkdir(parents=True, exist_ok=True)
    for folder in folders:
        (root / f".{folder}" / "maildirfolder").touch()


def file_name_for(key: str) -> str:
    """The Maildir name for the message written under idempotency `key`: same key, same file."""
    return f"emailbot-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def mailbox_from_settings(settings: Settings) -> MaildirMailbox:
    """The local mailbox at EMAILBOT_LOCAL_MAILBOX_DIR, with the SMTP relay when one is configured."""
    address = Address(settings.mailbox_address, settings.mailbox_display_name)
    return MaildirMailbox(settings.local_mailbox_dir, address, relay_from_settings(settings))


def _unknown_state_advice(marker: Path) -> str:
    return (
        f"delivery state unknown: an earlier attempt to send {marker} did not finish. A person must check "
        f"whether it reached the recipient: if it did, move the file to {marker.parent.parent / 'cur'}/ "
        f"(name ending in {INFO_SEPARATOR}S); if not, delete it so the reply can be sent again"
    )


def _checked_key(source_id: str) -> str:
    """Refuse ids that are not plain Maildir names, so no id can point outside the mailbox."""
    if not _SAFE_KEY.fullmatch(source_id):
        raise MailboxError(f"not a Maildir message id: {source_id[:80]!r}", permanent=True)
    return source_id


def _key_of(file_name: str) -> str:
    return file_name.split(":", 1)[0]


def _flags_of(path_name: str) -> str:
    _, separator, flags = path_name.partition(INFO_SEPARATOR)
    return flags if separator else ""


def _cur_name(key: str, flags: str) -> str:
    return f"{key}{INFO_SEPARATOR}{flags}"


def _rename_if_present(source: Path, target: Path) -> bool:
    try:
        os.rename(source, target)
    except FileNotFoundError:
        return False
    return True


def _names_in(folder: Path) -> set[str]:
    """The message names (without flags) in new/ and cur/ of `folder`."""
    return {_key_of(entry) for sub in ("new", "cur") for entry in os.listdir(folder / sub)}


_FOLDER_NAME = re.compile(r"^[\w][\w .-]{0,99}$")


def _subfolder(root: Path, name: str) -> Path:
    """The Maildir++ folder `.<name>` (created when missing); a name that could leave the Maildir is refused."""
    if not _FOLDER_NAME.match(name) or ".." in name:
        raise MailboxError(f"invalid folder name {name!r} (letters, digits, space, '.', '_', '-')", permanent=True)
    folder = root / f".{name}"
    for sub in ("tmp", "new", "cur"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return folder
