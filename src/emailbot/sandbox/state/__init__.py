"""The sandbox tenant's state, in memory and thread-safe, one module per resource kind:

- `tenant`: the configuration, the one lock, the change sequence, Graph's time and id formats;
- `directory`: applications and users; `mailbox`: a user's folders, messages and tombstones;
- `messages`: delivering, composing, changing, moving and deleting mail; `delta`: delta and skip tokens;
- `subscriptions`: change-notification subscriptions; `chats`: Teams chats; `signin`: device codes, refresh tokens;
- `limits`: injected faults, per-mailbox throttling, token expiry and the request log.

`SandboxState` is all of them over one lock: its public methods are the Python admin API that tests and
`/_sandbox/` use.
"""

from __future__ import annotations

from emailbot.sandbox.state.chats import Chat, ChatMember, ChatMessage, ChatStore
from emailbot.sandbox.state.delta import DeltaCursor, DeltaPage, DeltaTokens
from emailbot.sandbox.state.directory import App
from emailbot.sandbox.state.limits import Faults, Limits, LoggedRequest
from emailbot.sandbox.state.mailbox import Folder, MailMessage, User
from emailbot.sandbox.state.messages import Mailstore
from emailbot.sandbox.state.signin import DeviceCode, RefreshGrant, SignIns
from emailbot.sandbox.state.subscriptions import Subscription
from emailbot.sandbox.state.tenant import SandboxConfig

__all__ = [
    "App",
    "Chat",
    "ChatMember",
    "ChatMessage",
    "DeltaCursor",
    "DeltaPage",
    "DeviceCode",
    "Faults",
    "Folder",
    "LoggedRequest",
    "MailMessage",
    "RefreshGrant",
    "SandboxConfig",
    "SandboxState",
    "Subscription",
    "User",
]


class SandboxState(Mailstore, DeltaTokens, SignIns, Limits, ChatStore):
    """Everything the fake tenant holds: the app EmailBot signs in as, the shared mailbox and the service account."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config or SandboxConfig())
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
