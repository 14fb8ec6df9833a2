"""The tenant's directory: registered applications (credentials, consented permissions, access policies) and
users with their mailbox folders."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from emailbot.sandbox.state.mailbox import WELL_KNOWN_FOLDERS, Folder, User
from emailbot.sandbox.state.tenant import DEFAULT_DELEGATED_PERMISSIONS, SandboxConfig, TenantBase, new_folder_id


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


class Directory(TenantBase):
    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config)
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}

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
        """Registers an app, or adds a credential and permissions to one already registered."""
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
                _add_folder(user, Folder(id=new_folder_id(), display_name=name, well_known_name=well_known))
            self.users[user.id] = user
            return user

    def add_folder(self, display_name: str, *, mailbox: str | None = None) -> Folder:
        """A custom top-level folder (like one made in Outlook); ValueError if the name is taken."""
        with self.lock:
            user = self.user(mailbox)
            if any(f.display_name.lower() == display_name.lower() for f in user.folders.values()):
                raise ValueError(f"a folder named {display_name!r} exists in {user.mail}")
            return _add_folder(user, Folder(id=new_folder_id(), display_name=display_name, well_known_name=None))

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
        """A user by id, UPN or address (the shared mailbox by default); KeyError when there is none."""
        found = self.find_user(id_or_upn or self.config.mailbox)
        if found is None:
            raise KeyError(f"no user {id_or_upn!r} in the sandbox")
        return found


def _add_folder(user: User, folder: Folder) -> Folder:
    user.folders[folder.id] = folder
    user.tombstones[folder.id] = []
    return folder
