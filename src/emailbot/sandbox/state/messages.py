"""Mail as Exchange handles it: delivery, composed messages (drafts, sent items), property changes, moves and
deletions, each advancing the change sequence delta queries read and notifying subscriptions; plus the log of
everything sent, so tests can count replies."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from emailbot.sandbox.mime import ParsedMail, conversation_id_for, conversation_key, parse_mime
from emailbot.sandbox.state.directory import Directory
from emailbot.sandbox.state.mailbox import Folder, MailMessage, Tombstone, User
from emailbot.sandbox.state.subscriptions import SubscriptionHub
from emailbot.sandbox.state.tenant import (
    SandboxConfig,
    graph_time,
    new_immutable_id,
    new_rest_id,
    utcnow,
)


class Mailstore(Directory, SubscriptionHub):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.outgoing: list[dict[str, Any]] = []  # everything sent (reply, send, sendMail), saved or not

    def deliver(self, raw: bytes, *, mailbox: str | None = None, folder: str = "inbox", is_read: bool = False) -> str:
        """Puts a message in a folder (the inbox by default) as Exchange would on delivery; returns its immutable id.

        Subscriptions on that folder are notified (`created`)."""
        parsed = parse_mime(raw)
        with self.lock:
            user = self.user(mailbox)
            target = self._folder(user, folder)
            now = utcnow()
            message = MailMessage(
                immutable_id=new_immutable_id(),
                rest_id=new_rest_id(),
                folder_id=target.id,
                raw=raw,
                parsed=parsed,
                conversation_id=conversation_id_for(conversation_key(parsed) or uuid.uuid4().hex),
                received=now,
                created=now,
                modified=now,
                is_read=is_read,
            )
            self._store(user, message)
            self.notify(user, message, "created")
            return message.immutable_id

    def seed(self, path: Path, *, mailbox: str | None = None) -> list[str]:
        """Delivers one .eml file, or every .eml file of a folder (sorted by name), to the inbox."""
        files = sorted(path.glob("*.eml")) if path.is_dir() else [path]
        return [self.deliver(file.read_bytes(), mailbox=mailbox) for file in files]

    def store_composed(
        self,
        user: User,
        parsed: ParsedMail,
        raw: bytes,
        *,
        folder: str,
        conversation_id: str,
        is_draft: bool,
        unique_body: str | None,
    ) -> MailMessage:
        with self.lock:
            now = utcnow()
            message = MailMessage(
                immutable_id=new_immutable_id(),
                rest_id=new_rest_id(),
                folder_id=self._folder(user, folder).id,
                raw=raw,
                parsed=parsed,
                conversation_id=conversation_id,
                received=now,
                created=now,
                modified=now,
                is_read=True,
                is_draft=is_draft,
                unique_body=unique_body,
            )
            self._store(user, message)
            if not is_draft and folder == "sentitems":
                self._record_outgoing(user, parsed, message.immutable_id)
            return message

    def record_unsaved_sent(self, user: User, parsed: ParsedMail) -> None:
        """sendMail with saveToSentItems=false: nothing is stored, but the transport still sent it."""
        with self.lock:
            self._record_outgoing(user, parsed, None)

    def _record_outgoing(self, user: User, parsed: ParsedMail, immutable_id: str | None) -> None:
        self.outgoing.append(
            {
                "mailbox": user.mail,
                "message_id": immutable_id,
                "internet_message_id": parsed.internet_message_id,
                "in_reply_to": parsed.in_reply_to,
                "subject": parsed.subject,
                "to": [a.address for a in parsed.to],
                "cc": [a.address for a in parsed.cc],
                "bcc": [a.address for a in parsed.bcc],
                "sent_at": graph_time(utcnow()),
            }
        )

    def duplicate_replies(self) -> dict[str, int]:
        """Messages answered more than once: In-Reply-To → number of replies sent (empty when none)."""
        with self.lock:
            counts = Counter(o["in_reply_to"] for o in self.outgoing if o["in_reply_to"])
            return {message_id: n for message_id, n in counts.items() if n > 1}

    def touch(self, user: User, message: MailMessage) -> None:
        """Records a property change: the message shows up again in delta and `updated` subscribers hear of it."""
        with self.lock:
            message.change_version += 1
            message.modified = utcnow()
            message.changed_seq = self.next_seq()
            self.notify(user, message, "updated")

    def move(self, user: User, message: MailMessage, destination: Folder) -> MailMessage:
        """Moves a message; like Exchange, the regular (REST) id changes, the immutable id does not."""
        with self.lock:
            if destination.id == message.folder_id:
                return message
            self._remove_from_folder(user, message)
            user.rest_index.pop(message.rest_id, None)
            message.rest_id = new_rest_id()
            message.folder_id = destination.id
            message.change_version += 1
            message.modified = utcnow()
            self._store(user, message)
            self.notify(user, message, "created")
            return message

    def delete(self, user: User, message: MailMessage) -> None:
        with self.lock:
            self._remove_from_folder(user, message)
            user.rest_index.pop(message.rest_id, None)
            user.messages.pop(message.immutable_id, None)

    def _remove_from_folder(self, user: User, message: MailMessage) -> None:
        user.tombstones[message.folder_id].append(Tombstone(self.next_seq(), message.immutable_id, message.rest_id))
        self.notify(user, message, "deleted")

    def _store(self, user: User, message: MailMessage) -> None:
        message.changed_seq = self.next_seq()
        user.messages[message.immutable_id] = message
        user.rest_index[message.rest_id] = message.immutable_id

    def _folder(self, user: User, name_or_id: str) -> Folder:
        folder = user.folder(name_or_id)
        if folder is None:
            raise KeyError(f"no folder {name_or_id!r} in {user.mail}")
        return folder

    def messages_in(self, folder: str = "inbox", *, mailbox: str | None = None) -> list[MailMessage]:
        """The messages of a folder (well-known name or id), oldest first."""
        with self.lock:
            user = self.user(mailbox)
            target = self._folder(user, folder)
            return sorted((m for m in user.messages.values() if m.folder_id == target.id), key=lambda m: m.created)

    def message(self, message_id: str, *, mailbox: str | None = None) -> MailMessage:
        with self.lock:
            found = self.user(mailbox).find_message(message_id)
            if found is None:
                raise KeyError(f"no message {message_id!r}")
            return found

    def sent_items(self, mailbox: str | None = None) -> list[MailMessage]:
        return self.messages_in("sentitems", mailbox=mailbox)

    def drafts(self, mailbox: str | None = None) -> list[MailMessage]:
        return self.messages_in("drafts", mailbox=mailbox)
