"""Delegated Graph tokens for the Teams service account, which posts the escalation messages.

Graph lets an application create chats (Chat.Create) but not post ordinary chat messages: that needs a user. An
administrator signs a dedicated service account in once with `emailbot teams login` (the device-code flow of
MSAL's PublicClientApplication); MSAL's token cache, holding the refresh token, is stored encrypted in the
database (see `secret_store`) and renewed whenever MSAL refreshes it, so the sign-in lasts as long as the refresh
token does (90 days of disuse, or until an administrator revokes it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt
import msal  # type: ignore[import-untyped]
import requests

from emailbot.mail.graph.auth import RENEW_BEFORE_SECONDS, Token
from emailbot.mail.graph.errors import GraphAuthError, advice_for_token_error
from emailbot.notify.secret_store import SecretStore
from emailbot.settings import Settings

log = logging.getLogger(__name__)
CACHE_NAME = "teams-delegated-token-cache"
NOT_SIGNED_IN = "The Teams service account is not signed in: run `emailbot teams login` once."


class DelegatedTokens:
    """Hands out the service account's access token, refreshing it through MSAL (same interface as app tokens)."""

    def __init__(self, settings: Settings, store: SecretStore) -> None:
        self.settings = settings
        self.store = store
        self.client_id = settings.teams_client_id or settings.graph_client_id or ""
        self.scopes = list(settings.teams_delegated_scopes)
        self.account = settings.teams_delegated_account
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._session = _http_session(settings)
        self.last_error: str | None = None

    def close(self) -> None:
        self._session.close()

    @property
    def authority(self) -> str:
        return f"{self.settings.graph_authority_url.rstrip('/')}/{self.settings.graph_tenant_id}"

    async def token(self, *, force_refresh: bool = False) -> Token:
        if not force_refresh and self._token is not None and self._token.fresh(time.time()):
            return self._token
        async with self._lock:
            cache = await self._load_cache()
            app = self._application(cache)
            result = await asyncio.to_thread(self._silent, app, force_refresh=force_refresh)
            if cache.has_state_changed:
                await self.store.put(CACHE_NAME, cache.serialize())
            self._token = _delegated_token(result)
            return self._token

    async def signed_in_as(self) -> str | None:
        """The service account's user name, from the stored cache (no network)."""
        cache = await self._load_cache()
        accounts = self._application(cache).get_accounts(username=self.account)
        return str(accounts[0].get("username")) if accounts else None

    async def login(self, show: Callable[[str], None], timeout: float = 900) -> str:
        """The device-code sign-in: `show` gets the instruction for the administrator; returns the account name."""
        cache = msal.SerializableTokenCache()
        app = self._application(cache)
        flow = await asyncio.to_thread(app.initiate_device_flow, scopes=self.scopes)
        if "user_code" not in flow:
            raise GraphAuthError(advice_for_token_error(flow), permanent=True)
        show(str(flow["message"]))
        flow["expires_at"] = min(float(flow.get("expires_at", time.time() + timeout)), time.time() + timeout)
        result = await asyncio.to_thread(app.acquire_token_by_device_flow, flow)
        if "access_token" not in result:
            raise GraphAuthError(advice_for_token_error(result), permanent=True)
        username = str((result.get("id_token_claims") or {}).get("preferred_username") or "")
        username = username or _claims(result["access_token"]).get("upn", "")
        if self.account and username and username.lower() != self.account.lower():
            raise GraphAuthError(
                f"Signed in as {username}, but EMAILBOT_TEAMS_DELEGATED_ACCOUNT is {self.account}: sign in with "
                "the service account.",
                permanent=True,
            )
        await self.store.put(CACHE_NAME, cache.serialize())
        self._token = _delegated_token(result)
        return username

    async def logout(self) -> None:
        await self.store.delete(CACHE_NAME)
        self._token = None

    async def _load_cache(self) -> msal.SerializableTokenCache:
        cache = msal.SerializableTokenCache()
        stored = await self.store.get(CACHE_NAME)
        if stored:
            cache.deserialize(stored)
        return cache

    def _application(self, cache: msal.SerializableTokenCache) -> msal.PublicClientApplication:
        settings = self.settings
        return msal.PublicClientApplication(
            self.client_id,
            authority=self.authority,
            token_cache=cache,
            http_client=self._session,
            timeout=30,
            instance_discovery=settings.graph_authority_url.startswith("https://login.microsoftonline.com"),
        )

    def _silent(self, app: msal.PublicClientApplication, *, force_refresh: bool) -> dict[str, Any]:
        accounts = app.get_accounts(username=self.account)
        if not accounts:
            self.last_error = NOT_SIGNED_IN
            raise GraphAuthError(NOT_SIGNED_IN, permanent=True)
        try:
            result = app.acquire_token_silent_with_error(self.scopes, account=accounts[0], force_refresh=force_refresh)
        except Exception as exc:  # noqa: BLE001 - the token endpoint could not be reached
            self.last_error = f"Entra ID could not be reached at {self.authority}: {exc}"
            raise GraphAuthError(self.last_error) from exc
        if not result or "access_token" not in result:
            advice = advice_for_token_error(result or {})
            self.last_error = f"{advice} The service account must sign in again: `emailbot teams login`."
            raise GraphAuthError(self.last_error, permanent=bool(result))
        self.last_error = None
        return dict(result)


def _http_session(settings: Settings) -> requests.Session:
    """MSAL's HTTP session. With EMAILBOT_GRAPH_CA_BUNDLE it trusts exactly that CA: requests would otherwise let
    REQUESTS_CA_BUNDLE from the environment override MSAL's `verify`."""
    session = requests.Session()
    if settings.graph_ca_bundle:
        session.trust_env = False
        session.verify = str(settings.graph_ca_bundle)
    return session


def _claims(access_token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


def _delegated_token(result: dict[str, Any]) -> Token:
    """A delegated token's permissions are its `scp` claim; they go where an app token has its roles."""
    access_token = str(result["access_token"])
    claims = _claims(access_token)
    expires_at = min(time.time() + float(result.get("expires_in", 3600)), float(claims.get("exp", 1e12)))
    lifetime = max(expires_at - time.time(), 0.0)
    scopes = tuple(str(claims.get("scp", "")).split())
    return Token(access_token, expires_at, scopes, expires_at - min(RENEW_BEFORE_SECONDS, lifetime / 2))
