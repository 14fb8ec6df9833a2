"""Delta queries' memory: where each delta token and skip token stands in the tenant's change sequence, and what
changed in a folder since then (new or changed messages, and tombstones of those that left)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from emailbot.sandbox.state.directory import Directory
from emailbot.sandbox.state.tenant import SandboxConfig


@dataclass
class DeltaCursor:
    user_id: str
    folder_id: str
    seq: int
    select: list[str] | None


@dataclass
class DeltaPage:
    cursor: DeltaCursor
    pending: list[tuple[str, str | None]]  # (immutable id, rest id if it was a removal)
    seq_high: int


class DeltaTokens(Directory):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.delta_cursors: dict[str, DeltaCursor] = {}
        self.delta_pages: dict[str, DeltaPage] = {}

    def new_delta_token(self, cursor: DeltaCursor) -> str:
        with self.lock:
            token = secrets.token_urlsafe(32)
            self.delta_cursors[token] = cursor
            return token

    def new_skip_token(self, page: DeltaPage) -> str:
        with self.lock:
            token = secrets.token_urlsafe(32)
            self.delta_pages[token] = page
            return token

    def expire_delta_tokens(self) -> None:
        """Forgets every delta and skip token: the next delta call with one gets 410 Gone (syncStateNotFound)."""
        with self.lock:
            self.delta_cursors.clear()
            self.delta_pages.clear()

    def delta_changes(self, cursor: DeltaCursor) -> DeltaPage:
        """What changed in the cursor's folder since its sequence number, as a list still to be paged out."""
        with self.lock:
            user = self.users[cursor.user_id]
            seq_high = self._seq
            current = [
                m
                for m in sorted(user.messages.values(), key=lambda m: m.changed_seq)
                if m.folder_id == cursor.folder_id and m.changed_seq > cursor.seq
            ]
            pending: list[tuple[str, str | None]] = [(m.immutable_id, None) for m in current]
            if cursor.seq > 0:
                present = {m.immutable_id for m in current}
                for stone in user.tombstones.get(cursor.folder_id, []):
                    if stone.seq > cursor.seq and stone.immutable_id not in present:
                        still_here = user.messages.get(stone.immutable_id)
                        if still_here is None or still_here.folder_id != cursor.folder_id:
                            pending.append((stone.immutable_id, stone.rest_id))
                            present.add(stone.immutable_id)
            return DeltaPage(cursor=cursor, pending=pending, seq_high=seq_high)
