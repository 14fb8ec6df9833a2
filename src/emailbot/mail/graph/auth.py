"""App-only tokens for Graph from Entra ID, through MSAL's ConfidentialClientApplication.

MSAL is synchronous, so each token request runs in a thread. The token cache is MSAL's own serialized cache; with
EMAILBOT_REDIS_URL it is shared through Redis (one key per tenant and client), so several EmailBot processes reuse
one token instead of each asking Entra ID. A token is renewed five minutes before it expires, and at once when
Graph says it is no longer valid.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from emailbot.mail.graph.errors import GraphAuthError, advice_for_token_error
from emailbot.settings import Settings

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RENEW_BEFORE_SECONDS = 300
REDIS_CACHE_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    expires_at: float  # epoch seconds
    roles: tuple[str, ...]
    renew_at: float  # five minutes before expiry, or half-way for a short-lived token

    def fresh(self, now: float) -> bool:
        return now < self.renew_at


class TokenProvider:
    """Hands out a valid access token, renewing it before it expires."""

    def __init__(self, settings: Settings, *, scope: str = GRAPH_SCOPE) -> None:
        self.tenant_id = settings.graph_tenant_id
        self.client_id = settings.graph_client_id
        self.scope = scope
        self._settings = settings
        self._cache = msal.SerializableTokenCache()
        self._app: msal.ConfidentialClientApplication | None = None
        self._redis_url = settings.redis_url
        self._token: Token | None = None
        self._http: _MsalHttpClient | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None

    @property
    def cache_key(self) -> str:
        return f"emailbot:msal-token-cache:{self.tenant_id}:{self.client_id}"

    @property
    def current(self) -> Token | None:
        return self._token

    async def token(self, *, force_refresh: bool = False) -> Token:
        """A token valid for at least five more minutes; `force_refresh` after Graph refused the current one."""
        if not force_refresh and self._token is not None and self._token.fresh(time.time()):
            return self._token
        stale = self._token
        async with self._lock:
            if self._token is not None and self._token is not stale and self._token.fresh(time.time()):
                return self._token  # another task renewed it meanwhile
            self._token = await asyncio.to_thread(self._acquire, force_refresh=force_refresh)
            return self._token

    def _acquire(self, *, force_refresh: bool) -> Token:
        if force_refresh:
            self._cache = msal.SerializableTokenCache()  # drop the refused token, also from Redis below
            self._app = None
        else:
            self._load_shared_cache()
        try:
            result = self._application().acquire_token_for_client(scopes=[self.scope])
        except ValueError as exc:  # MSAL raises for an unusable authority or credential
            self.last_error = f"MSAL could not use the settings: {exc}"
            raise GraphAuthError(self.last_error, permanent=True) from exc
        except Exception as exc:  # noqa: BLE001 - a network failure reaching the token endpoint
            self.last_error = f"Entra ID could not be reached at {self._authority}: {exc}"
            raise GraphAuthError(self.last_error) from exc
        if "access_token" not in result:
            self.last_error = advice_for_token_error(result)
            raise GraphAuthError(self.last_error, permanent=result.get("error") != "temporarily_unavailable")
        self.last_error = None
        if force_refresh or self._cache.has_state_changed:
            self._store_shared_cache()
        return _token_from(result)

    @property
    def _authority(self) -> str:
        return f"{self._settings.graph_authority_url.rstrip('/')}/{self.tenant_id}"

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            settings = self._settings
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=client_credential(settings),
                authority=self._authority,
                token_cache=self._cache,
                # An httpx client rather than MSAL's `verify=`: requests ignores that whenever REQUESTS_CA_BUNDLE
                # is set, and the CA bundle setting must win.
                http_client=self._http_client(),
                # Outside Microsoft's clouds (a sovereign or test authority) MSAL must not ask
                # login.microsoftonline.com about the authority first.
                instance_discovery=settings.graph_authority_url.startswith("https://login.microsoftonline.com"),
            )
        return self._app

    def _http_client(self) -> _MsalHttpClient:
        if self._http is None:
            bundle = self._settings.graph_ca_bundle
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(bundle)) if bundle else True
            self._http = _MsalHttpClient(httpx.Client(verify=verify, timeout=30))
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _load_shared_cache(self) -> None:
        if not self._redis_url:
            return
        try:
            data = self._redis().get(self.cache_key)
        except Exception as exc:  # noqa: BLE001 - without Redis each process simply asks Entra ID itself
            log.warning("token cache: Redis unavailable (%s); using this process's cache", type(exc).__name__)
            return
        if data:
            self._cache.deserialize(data.decode() if isinstance(data, bytes) else str(data))

    def _store_shared_cache(self) -> None:
        if not self._redis_url:
            return
        try:
            self._redis().set(self.cache_key, self._cache.serialize(), ex=REDIS_CACHE_TTL_SECONDS)
        except Exception as exc:  # noqa: BLE001
            log.warning("token cache: could not store in Redis (%s)", type(exc).__name__)

    def _redis(self) -> Any:
        import redis

        return redis.Redis.from_url(str(self._redis_url), socket_timeout=5)


class _MsalHttpClient:
    """The requests-like client MSAL expects, on httpx.

    MSAL hands form values over as it made them, and its certificate assertion is bytes: requests sends bytes as
    they are, httpx would send their repr, so form values are decoded here.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def post(self, url: str, *, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {key: value.decode() if isinstance(value, bytes) else value for key, value in data.items()}
        return self.client.post(url, data=data, **kwargs)

    def close(self) -> None:
        self.client.close()


def client_credential(settings: Settings) -> str | dict[str, str]:
    """The secret, or MSAL's certificate credential: private key plus SHA-1 thumbprint (computed when not given).

    The key is next to the certificate in EMAILBOT_GRAPH_CLIENT_CERTIFICATE, or in its own file
    EMAILBOT_GRAPH_CLIENT_CERTIFICATE_KEY.
    """
    if settings.graph_client_certificate is not None:
        pem = Path(settings.graph_client_certificate).read_text(encoding="utf-8")
        thumbprint = settings.graph_client_certificate_thumbprint or certificate_thumbprint(pem)
        key_file = settings.graph_client_certificate_key
        private_key = Path(key_file).read_text(encoding="utf-8") if key_file is not None else pem
        return {"private_key": private_key, "thumbprint": thumbprint.replace(":", "")}
    if settings.graph_client_secret is None:
        raise GraphAuthError("set EMAILBOT_GRAPH_CLIENT_SECRET or EMAILBOT_GRAPH_CLIENT_CERTIFICATE", permanent=True)
    return settings.graph_client_secret.get_secret_value()


def certificate_thumbprint(pem: str) -> str:
    """The SHA-1 thumbprint Entra ID shows for the (first) certificate in `pem`."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise GraphAuthError(
            "EMAILBOT_GRAPH_CLIENT_CERTIFICATE holds no PEM certificate next to the private key", permanent=True
        ) from exc
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - the thumbprint Entra ID uses


def default_client_state(settings: Settings) -> str:
    """A clientState that stays the same across restarts, so notifications for existing subscriptions still pass."""
    if settings.graph_client_state is not None:
        return settings.graph_client_state.get_secret_value()
    secret = settings.graph_client_secret.get_secret_value() if settings.graph_client_secret else ""
    material = f"emailbot-client-state|{settings.graph_tenant_id}|{settings.graph_client_id}|{secret}"
    material += f"|{settings.graph_client_certificate or ''}"
    return hashlib.sha256(material.encode()).hexdigest()


def _token_from(result: dict[str, Any]) -> Token:
    access_token = str(result["access_token"])
    expires_at = time.time() + float(result.get("expires_in", 3600))
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    roles = claims.get("roles") or []
    if "exp" in claims:
        expires_at = min(expires_at, float(claims["exp"]))
    lifetime = max(expires_at - time.time(), 0.0)
    renew_at = expires_at - min(RENEW_BEFORE_SECONDS, lifetime / 2)
    return Token(access_token, expires_at, tuple(str(role) for role in roles), renew_at)
