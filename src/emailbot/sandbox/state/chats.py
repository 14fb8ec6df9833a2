"""Teams chats as the tenant holds them: group chats with their members and messages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from emailbot.sandbox.state.tenant import SandboxConfig, TenantBase


@dataclass
class ChatMember:
    id: str
    user_id: str
    roles: list[str]
    added: dt.datetime


@dataclass
class ChatMessage:
    id: str
    sender_user_id: str
    content_type: str
    content: str
    created: dt.datetime


@dataclass
class Chat:
    id: str
    chat_type: str
    topic: str | None
    created: dt.datetime
    created_by_app: str | None
    members: list[ChatMember] = field(default_factory=list)
    messages: list[ChatMessage] = field(default_factory=list)


class ChatStore(TenantBase):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.chats: dict[str, Chat] = {}

    def chat_list(self) -> list[Chat]:
        with self.lock:
            return list(self.chats.values())
