"""Access tokens the way Entra ID issues them for Graph (RS256 JWTs) and client assertions the way it checks them."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenRejected(Exception):
    """The bearer token cannot be used; the message is Graph's."""


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]

    @property
    def app_id(self) -> str:
        return str(self.claims.get("appid", ""))

    @property
    def is_delegated(self) -> bool:
        return "scp" in self.claims

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.claims.get("roles", []))

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(str(self.claims.get("scp", "")).split())

    @property
    def user_id(self) -> str | None:
        return str(self.claims["oid"]) if self.is_delegated else None

    def grants(self, permissions: tuple[str, ...]) -> bool:
        granted = self.scopes if self.is_delegated else self.roles
        return any(p in granted for p in permissions)


class TokenService:
    """Signs tokens with the sandbox's key and verifies them (signature, audience, issuer, lifetime)."""

    def __init__(self, signing_key_pem: bytes, tenant_id: str) -> None:
        # The sandbox generated this key itself: skipping the (slow) RSA consistency check is safe.
        key = serialization.load_pem_private_key(signing_key_pem, password=None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._key = key
        self._tenant_id = tenant_id
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = base64.urlsafe_b64encode(hashlib.sha1(public_der).digest()).decode().rstrip("=")

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self._tenant_id}/"

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.key_id, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def issue(self, claims: dict[str, Any], lifetime_seconds: int) -> str:
        now = int(time.time())
        body = {
            "aud": GRAPH_AUDIENCE,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "tid": self._tenant_id,
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
            **claims,
        }
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"})

    def verify(self, token: str) -> VerifiedToken:
        if not token:
            raise TokenRejected("Access token is empty.")
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=[GRAPH_AUDIENCE, GRAPH_APP_ID, f"{GRAPH_AUDIENCE}/"],
                issuer=self.issuer,
                options={"require": ["exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("Access token validation failure. Invalid audience.") from None
        except jwt.InvalidTokenError:
            raise TokenRejected("IDX14100: JWT is not well formed, or its signature is invalid.") from None
        return VerifiedToken(claims)


class AssertionRejected(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def verify_client_assertion(assertion: str, client_id: str, token_endpoint: str, certificates: list[bytes]) -> str:
    """Checks a client assertion as Entra does; returns the SHA-1 thumbprint (hex) of the certificate used."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise AssertionRejected(50027, "JWT token is invalid or malformed.") from None
    certificate = _registered_certificate(header, certificates)
    if certificate is None:
        raise AssertionRejected(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on application.",
        )
    try:
        claims = jwt.decode(
            assertion,
            certificate.public_key(),  # type: ignore[arg-type]
            algorithms=["RS256", "PS256"],
            audience=[token_endpoint, token_endpoint.rsplit("/oauth2/", 1)[0]],
            options={"require": ["exp", "aud", "iss", "sub"]},
            leeway=300,
        )
    except jwt.ExpiredSignatureError:
        raise AssertionRejected(700024, "Client assertion is not within its valid time range.") from None
    except jwt.InvalidAudienceError:
        raise AssertionRejected(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        ) from None
    except jwt.InvalidTokenError:
        raise AssertionRejected(700027, "Client assertion failed signature validation.") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
    return _thumbprint(certificate, "sha1")


def _registered_certificate(header: dict[str, Any], certificates: list[bytes]) -> x509.Certificate | None:
    wanted_sha1 = _decode_thumbprint(header.get("x5t"))
    wanted_sha256 = _decode_thumbprint(header.get("x5t#S256"))
    for pem in certificates:
        start = pem.find(b"-----BEGIN CERTIFICATE-----")
        certificate = x509.load_pem_x509_certificate(pem[start:])
        if wanted_sha256 and _thumbprint(certificate, "sha256") == wanted_sha256:
            return certificate
        if wanted_sha1 and _thumbprint(certificate, "sha1") == wanted_sha1:
            return certificate
    return None


def _decode_thumbprint(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.urlsafe_b64decode(padded).hex().upper()
    except ValueError:
        return None


def _thumbprint(certificate: x509.Certificate, algorithm: str) -> str:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.new(algorithm, der).hexdigest().upper()
