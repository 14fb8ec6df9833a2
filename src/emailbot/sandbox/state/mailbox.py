"""What Exchange keeps per user: the user, their folders, their messages, and the tombstones of messages that left a
folder (delta queries report those as removed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from emailbot.sandbox.mime import ParsedMail, body_preview

WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "junkemail": "Junk Email",
    "outbox": "Outbox",
}


@dataclass
class Folder:
    id: str
    display_name: str
    well_known_name: str | None
    parent_id: str = ""


@dataclass
class MailMessage:
    immutable_id: str
    rest_id: str
    folder_id: str
    raw: bytes
    parsed: ParsedMail
    conversation_id: str
    received: dt.datetime
    created: dt.datetime
    modified: dt.datetime
    categories: list[str] = field(default_factory=list)
    flag_status: str = "notFlagged"
    is_read: bool = False
    is_draft: bool = False
    unique_body: str | None = None
    change_version: int = 1
    changed_seq: int = 0

    @property
    def change_key(self) -> str:
        return f"CQAAAB{self.change_version:08d}"

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'

    def id_for(self, *, immutable: bool) -> str:
        return self.immutable_id if immutable else self.rest_id

    def preview(self) -> str:
        return body_preview(self.parsed.body_type, self.parsed.body)


@dataclass
class Tombstone:
    seq: int
    immutable_id: str
    rest_id: str


@dataclass
class User:
    id: str
    user_principal_name: str
    mail: str
    display_name: str
    mailbox_enabled: bool = True
    folders: dict[str, Folder] = field(default_factory=dict)
    messages: dict[str, MailMessage] = field(default_factory=dict)  # by immutable id
    rest_index: dict[str, str] = field(default_factory=dict)  # current rest id -> immutable id
    tombstones: dict[str, list[Tombstone]] = field(default_factory=dict)  # by folder id

    def folder(self, name_or_id: str) -> Folder | None:
        lowered = name_or_id.lower()
        for folder in self.folders.values():
            if folder.id == name_or_id or folder.well_known_name == lowered:
                return folder
        return None

    def find_message(self, message_id: str) -> MailMessage | None:
        if message_id in self.messages:
            return self.messages[message_id]
        immutable = self.rest_index.get(message_id)
        return self.messages.get(immutable) if immutable else None

    def as_graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "userPrincipalName": self.user_principal_name,
            "mail": self.mail,
            "givenName": None,
            "surname": None,
            "jobTitle": None,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "businessPhones": [],
        }
