"""The sandbox tenant's state, in memory and thread-safe: the app, users, mailboxes, chats, subscriptions, faults.

Every method takes the one lock, so tests may inspect and change the state from their own thread while the server
answers requests in its event loop.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emailbot.sandbox.mime import Address, ParsedMail, body_preview, conversation_id_for, conversation_key, parse_mime

WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "junkemail": "Junk Email",
    "outbox": "Outbox",
}
DEFAULT_APP_PERMISSIONS = ("Mail.ReadWrite", "Mail.Send", "User.Read.All", "Chat.Create", "Chat.ReadWrite.All")
DEFAULT_DELEGATED_PERMISSIONS = ("User.Read", "Chat.Create", "Chat.ReadWrite", "ChatMessage.Send", "offline_access")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _opaque(prefix: str) -> str:
    # Graph ids are long URL-safe base64 strings; clients must treat them as opaque.
    return prefix + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")


@dataclass
class SandboxConfig:
    """The tenant the sandbox pretends to be. Defaults are stable so printed settings keep working across restarts."""

    tenant_id: str = "5a4c3b2e-1d0f-4e9a-8b7c-6d5e4f3a2b1c"
    tenant_domain: str = "contoso.onmicrosoft.com"
    client_id: str = "0e1d2c3b-4a59-4687-9a6b-c5d4e3f2a1b0"
    client_secret: str = "sandbox~Q8r.x7Vh2Nn4Zp6Lw0Ty3Ks5Md9Fb1Gc"
    app_display_name: str = "EmailBot (sandbox)"
    app_permissions: tuple[str, ...] = DEFAULT_APP_PERMISSIONS
    delegated_permissions: tuple[str, ...] = DEFAULT_DELEGATED_PERMISSIONS
    mailbox: str = "support@contoso.onmicrosoft.com"
    mailbox_display_name: str = "Contoso Support"
    service_account: str = "emailbot-service@contoso.onmicrosoft.com"
    token_lifetime_seconds: int = 3599
    device_code_interval_seconds: int = 5
    device_code_lifetime_seconds: int = 900
    subscription_max_minutes: int = 10080  # Outlook message subscriptions: at most 7 days
    subscription_validation_timeout_seconds: float = 10.0  # Graph waits 10 s for the validation token


@dataclass
class Faults:
    """Failures on demand. Rates apply to every Graph call (each `$batch` item counts as one call)."""

    failure_rate: float = 0.0
    failure_statuses: tuple[int, ...] = (429, 503, 504)
    retry_after_seconds: int = 1
    latency_seconds: float = 0.0
    mailbox_concurrency_limit: int = 4
    mailbox_budget_requests: int = 10_000
    mailbox_budget_window_seconds: float = 600.0
    fail_next: deque[int] = field(default_factory=deque)  # statuses for the next calls in order; <400 lets one pass
    token_fail_next: deque[int] = field(default_factory=deque)  # statuses for the next token requests (429/5xx)
    seed: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "failure_rate": self.failure_rate,
            "failure_statuses": list(self.failure_statuses),
            "retry_after_seconds": self.retry_after_seconds,
            "latency_seconds": self.latency_seconds,
            "mailbox_concurrency_limit": self.mailbox_concurrency_limit,
            "mailbox_budget_requests": self.mailbox_budget_requests,
            "mailbox_budget_window_seconds": self.mailbox_budget_window_seconds,
            "fail_next": list(self.fail_next),
            "token_fail_next": list(self.token_fail_next),
        }


@dataclass
class App:
    client_id: str
    display_name: str
    secrets: set[str]
    certificates: list[bytes]
    roles: set[str]
    delegated_permissions: set[str]
    service_principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    allowed_mailboxes: set[str] | None = None  # an application access policy: None means every mailbox


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


@dataclass
class Subscription:
    id: str
    app_id: str
    resource: str
    change_types: list[str]
    notification_url: str
    lifecycle_notification_url: str | None
    client_state: str | None
    expiration: dt.datetime
    user_id: str
    folder_id: str | None
    immutable_ids: bool = False  # created with Prefer: IdType="ImmutableId": notifications carry immutable ids
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def as_graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": self.expiration.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "creatorId": self.app_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationQueryOptions": None,
            "notificationUrlAppId": None,
        }


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: list[str]
    expires_at: float
    approved_user_id: str | None = None
    denied: bool = False
    polls: int = 0


@dataclass
class RefreshGrant:
    client_id: str
    user_id: str
    scopes: list[str]


@dataclass
class LoggedRequest:
    at: float
    app_id: str | None
    method: str
    route: str
    path: str
    status: int
    mailbox: str | None
    in_batch: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "app_id": self.app_id,
            "method": self.method,
            "route": self.route,
            "path": self.path,
            "status": self.status,
            "mailbox": self.mailbox,
            "in_batch": self.in_batch,
        }


NotificationSink = Callable[[str, dict[str, Any], Subscription], None]


class SandboxState:
    """Everything the fake tenant holds. Public methods are the Python admin API used by tests and `/_sandbox`."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.lock = threading.RLock()
        self.faults = Faults()
        self._random = random.Random()
        self._seq = 0
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}
        self.chats: dict[str, Chat] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.device_codes: dict[str, DeviceCode] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}
        self.delta_cursors: dict[str, DeltaCursor] = {}
        self.delta_pages: dict[str, DeltaPage] = {}
        self.request_log: list[LoggedRequest] = []
        self.token_requests: Counter[str] = Counter()  # token endpoint calls by grant type
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.peak_in_flight: Counter[tuple[str, str]] = Counter()  # most concurrent calls seen per (app, mailbox)
        self.budget: dict[tuple[str, str], deque[float]] = {}
        self.notification_sink: NotificationSink | None = None
        self.expired_tokens_before = 0.0
        self.outgoing: list[dict[str, Any]] = []
        self.notification_log: list[
            dict[str, Any]
        ] = []  # every notification post: url, payload, status  # everything sent (reply, send, sendMail), saved or not
        cfg = self.config
        self.register_app(
            cfg.client_id,
            display_name=cfg.app_display_name,
            secret=cfg.client_secret,
            roles=cfg.app_permissions,
            delegated_permissions=cfg.delegated_permissions,
        )
        self.add_user(cfg.mailbox, display_name=cfg.mailbox_display_name)
        self.add_user(cfg.service_account, display_name="EmailBot Service Account")

    # ----- directory -------------------------------------------------------------------------------------------
    def register_app(
        self,
        client_id: str,
        *,
        display_name: str = "Sandbox app",
        secret: str | None = None,
        certificate_pem: bytes | None = None,
        roles: Iterable[str] = (),
        delegated_permissions: Iterable[str] = DEFAULT_DELEGATED_PERMISSIONS,
    ) -> App:
        with self.lock:
            app = self.apps.get(client_id) or App(
                client_id=client_id,
                display_name=display_name,
                secrets=set(),
                certificates=[],
                roles=set(),
                delegated_permissions=set(),
            )
            if secret:
                app.secrets.add(secret)
            if certificate_pem:
                app.certificates.append(certificate_pem)
            app.roles |= set(roles)
            app.delegated_permissions |= set(delegated_permissions)
            self.apps[client_id] = app
            return app

    def set_app_permissions(self, roles: Iterable[str], client_id: str | None = None) -> None:
        """Replaces the application permissions (admin-consented roles); tokens issued later carry them."""
        with self.lock:
            self.apps[client_id or self.config.client_id].roles = set(roles)

    def restrict_app_to_mailboxes(self, addresses: Iterable[str] | None, client_id: str | None = None) -> None:
        """An application access policy: the app may open only these mailboxes (None lifts the policy)."""
        with self.lock:
            app = self.apps[client_id or self.config.client_id]
            app.allowed_mailboxes = None if addresses is None else {a.lower() for a in addresses}

    def add_user(self, address: str, *, display_name: str | None = None, mailbox_enabled: bool = True) -> User:
        with self.lock:
            existing = self.find_user(address)
            if existing is not None:
                return existing
            user = User(
                id=str(uuid.uuid4()),
                user_principal_name=address,
                mail=address,
                display_name=display_name or address.split("@")[0],
                mailbox_enabled=mailbox_enabled,
            )
            for well_known, name in WELL_KNOWN_FOLDERS.items():
                folder = Folder(id=_opaque("AAMkAD"), display_name=name, well_known_name=well_known)
                user.folders[folder.id] = folder
                user.tombstones[folder.id] = []
            self.users[user.id] = user
            return user

    def add_folder(self, display_name: str, *, mailbox: str | None = None) -> Folder:
        """A custom top-level folder (like one made in Outlook); ValueError if the name is taken."""
        with self.lock:
            user = self.user(mailbox)
            if any(f.display_name.lower() == display_name.lower() for f in user.folders.values()):
                raise ValueError(f"a folder named {display_name!r} exists in {user.mail}")
            folder = Folder(id=_opaque("AAMkAD"), display_name=display_name, well_known_name=None)
            user.folders[folder.id] = folder
            user.tombstones[folder.id] = []
            return folder

    def set_mailbox_enabled(self, address: str, *, enabled: bool) -> None:
        """A user whose mailbox is inactive or on-premises answers MailboxNotEnabledForRESTAPI."""
        with self.lock:
            self.user(address).mailbox_enabled = enabled

    def find_user(self, id_or_upn: str) -> User | None:
        with self.lock:
            if id_or_upn in self.users:
                return self.users[id_or_upn]
            lowered = id_or_upn.lower()
            for user in self.users.values():
                if lowered in (user.user_principal_name.lower(), user.mail.lower()):
                    return user
            return None

    def user(self, id_or_upn: str | None = None) -> User:
        found = self.find_user(id_or_upn or self.config.mailbox)
        if found is None:
            raise KeyError(f"no user {id_or_upn!r} in the sandbox")
        return found

    # ----- mail ------------------------------------------------------------------------------------------------
    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def deliver(self, raw: bytes, *, mailbox: str | None = None, folder: str = "inbox", is_read: bool = False) -> str:
        """Puts a message in a folder (the inbox by default) as Exchange would on delivery; returns its immutable id.

        Subscriptions on that folder are notified (`created`)."""
        parsed = parse_mime(raw)
        with self.lock:
            user = self.user(mailbox)
            target = self._folder(user, folder)
            now = utcnow()
            message = MailMessage(
                immutable_id=_opaque("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A"),
                rest_id=_opaque("AAMkAGI2TG93AAA"),
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
            self._notify(user, message, "created")
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
                immutable_id=_opaque("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A"),
                rest_id=_opaque("AAMkAGI2TG93AAA"),
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
            self._notify(user, message, "updated")

    def move(self, user: User, message: MailMessage, destination: Folder) -> MailMessage:
        """Moves a message; like Exchange, the regular (REST) id changes, the immutable id does not."""
        with self.lock:
            if destination.id == message.folder_id:
                return message
            self._remove_from_folder(user, message)
            user.rest_index.pop(message.rest_id, None)
            message.rest_id = _opaque("AAMkAGI2TG93AAA")
            message.folder_id = destination.id
            message.change_version += 1
            message.modified = utcnow()
            self._store(user, message)
            self._notify(user, message, "created")
            return message

    def delete(self, user: User, message: MailMessage) -> None:
        with self.lock:
            self._remove_from_folder(user, message)
            user.rest_index.pop(message.rest_id, None)
            user.messages.pop(message.immutable_id, None)

    def _remove_from_folder(self, user: User, message: MailMessage) -> None:
        user.tombstones[message.folder_id].append(Tombstone(self.next_seq(), message.immutable_id, message.rest_id))
        self._notify(user, message, "deleted")

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

    # ----- delta -----------------------------------------------------------------------------------------------
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

    # ----- delegated sign-in ------------------------------------------------------------------------------------
    def pending_device_codes(self) -> list[DeviceCode]:
        with self.lock:
            now = time.time()
            return [
                c
                for c in self.device_codes.values()
                if c.approved_user_id is None and not c.denied and c.expires_at > now
            ]

    def approve_device_code(self, user_code: str | None = None, *, user: str | None = None) -> DeviceCode:
        """Signs `user` (the service account by default) in for a pending device code (the only one when no code)."""
        with self.lock:
            code = self._pending_code(user_code)
            code.approved_user_id = self.user(user or self.config.service_account).id
            return code

    def deny_device_code(self, user_code: str | None = None) -> DeviceCode:
        with self.lock:
            code = self._pending_code(user_code)
            code.denied = True
            return code

    def revoke_refresh_tokens(self) -> None:
        """Like an admin revoking sessions: every refresh token stops working (invalid_grant)."""
        with self.lock:
            self.refresh_grants.clear()

    def _pending_code(self, user_code: str | None) -> DeviceCode:
        pending = self.pending_device_codes()
        if user_code is not None:
            pending = [c for c in pending if c.user_code == user_code.strip().upper()]
        if len(pending) != 1:
            raise KeyError(f"{len(pending)} pending device codes match {user_code!r}")
        return pending[0]

    def chat_list(self) -> list[Chat]:
        with self.lock:
            return list(self.chats.values())

    # ----- faults, limits, request log ----------------------------------------------------------------------
    def set_faults(self, **changes: Any) -> Faults:
        """Changes fault settings by name, e.g. `set_faults(failure_rate=0.2, retry_after_seconds=1)`."""
        with self.lock:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise ValueError(f"unknown fault setting {name!r}")
                if name in ("fail_next", "token_fail_next"):
                    value = deque(value)
                elif name == "failure_statuses":
                    value = tuple(value)
                setattr(self.faults, name, value)
            if "seed" in changes:
                self._random.seed(changes["seed"])
            return self.faults

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = Faults()

    def draw_failure(self) -> int | None:
        """The status an injected failure answers for this call, or None."""
        with self.lock:
            if self.faults.fail_next:
                status = self.faults.fail_next.popleft()
                return status if status >= 400 else None
            if self.faults.failure_rate > 0 and self._random.random() < self.faults.failure_rate:
                return self._random.choice(self.faults.failure_statuses)
            return None

    def draw_token_failure(self) -> int | None:
        with self.lock:
            if self.faults.token_fail_next:
                status = self.faults.token_fail_next.popleft()
                return status if status >= 400 else None
            return None

    def enter_mailbox(self, app_id: str, mailbox_id: str) -> str | None:
        """Takes a concurrency slot and a budget unit; returns the throttling reason when refused."""
        with self.lock:
            key = (app_id, mailbox_id)
            if self.in_flight[key] >= self.faults.mailbox_concurrency_limit:
                return "MailboxConcurrency"
            window = self.budget.setdefault(key, deque())
            now = time.monotonic()
            while window and now - window[0] >= self.faults.mailbox_budget_window_seconds:
                window.popleft()
            if len(window) >= self.faults.mailbox_budget_requests:
                return "MailboxBudget"
            window.append(now)
            self.in_flight[key] += 1
            self.peak_in_flight[key] = max(self.peak_in_flight[key], self.in_flight[key])
            return None

    def budget_retry_after(self, app_id: str, mailbox_id: str) -> int:
        with self.lock:
            window = self.budget.get((app_id, mailbox_id))
            if not window:
                return 1
            return max(1, int(self.faults.mailbox_budget_window_seconds - (time.monotonic() - window[0])) + 1)

    def peak_concurrency(self, mailbox: str | None = None) -> int:
        """The most calls any app had in flight at once on the mailbox (throttled calls not counted)."""
        with self.lock:
            user_id = self.user(mailbox).id
            return max((n for (_, m), n in self.peak_in_flight.items() if m == user_id), default=0)

    def leave_mailbox(self, app_id: str, mailbox_id: str) -> None:
        with self.lock:
            self.in_flight[(app_id, mailbox_id)] -= 1

    def expire_all_tokens(self) -> None:
        """Every access token issued until now is rejected as expired (401 InvalidAuthenticationToken)."""
        with self.lock:
            # Tokens carry whole-second `iat`: a token issued this very second must also count as expired.
            self.expired_tokens_before = float(int(time.time()))

    def log_request(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.request_log.append(entry)

    def request_counts(self, *, include_batch_items: bool = False) -> Counter[str]:
        """HTTP requests per route ("GET /users/{id}/messages/{id}"); `$batch` items only when asked."""
        with self.lock:
            return Counter(f"{e.method} {e.route}" for e in self.request_log if include_batch_items or not e.in_batch)

    def request_total(self) -> int:
        """Graph HTTP requests received (a `$batch` counts once, its items not at all)."""
        with self.lock:
            return sum(1 for e in self.request_log if not e.in_batch)

    def reset_request_log(self) -> None:
        with self.lock:
            self.request_log.clear()
            self.token_requests.clear()
            self.peak_in_flight.clear()

    def count_token_request(self, grant_type: str) -> None:
        with self.lock:
            self.token_requests[grant_type] += 1

    # ----- subscriptions ----------------------------------------------------------------------------------------
    def _notify(self, user: User, message: MailMessage, change_type: str) -> None:
        sink = self.notification_sink
        if sink is None:
            return
        now = utcnow()
        for subscription in list(self.subscriptions.values()):
            if subscription.expiration < now or subscription.user_id != user.id:
                continue
            if change_type not in subscription.change_types:
                continue
            if subscription.folder_id is not None and subscription.folder_id != message.folder_id:
                continue
            sink(change_type, _resource_data(user, message), subscription)


def _resource_data(user: User, message: MailMessage) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "immutable_id": message.immutable_id,
        "rest_id": message.rest_id,
        "etag": message.etag,
    }


def parse_graph_time(value: str) -> dt.datetime:
    cleaned = value.strip().replace("Z", "+00:00")
    if "." in cleaned:
        head, _, tail = cleaned.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        cleaned = f"{head}.{digits[:6]}{zone}"
    moment = dt.datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def address_from_graph(value: Any) -> Address:
    email_address = (value or {}).get("emailAddress") or {}
    return Address(str(email_address.get("name") or ""), str(email_address.get("address") or ""))
