"""The sandbox's certificates: a CA, a server certificate for 127.0.0.1/localhost, a client certificate for the app.

They are kept in the state folder so a client that trusts the CA once keeps trusting it across restarts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "sandbox-ca.pem"
SERVER_CERT_FILE = "sandbox-server.pem"
SERVER_KEY_FILE = "sandbox-server-key.pem"
CLIENT_CERT_FILE = "sandbox-app-certificate.pem"
SIGNING_KEY_FILE = "sandbox-token-signing-key.pem"
_VALIDITY = dt.timedelta(days=825)
_RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class SandboxPki:
    """Paths of the generated files and what the token service needs from them."""

    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_certificate_path: Path  # PEM: the app's private key followed by its certificate
    client_certificate_pem: bytes
    signing_key_pem: bytes

    @property
    def client_thumbprint_sha1(self) -> str:
        return certificate_thumbprint(self.client_certificate_pem, "sha1")


def certificate_thumbprint(pem: bytes, algorithm: str) -> str:
    """Hex thumbprint of the first certificate in a PEM blob, as Entra and MSAL write it (upper case)."""
    certificate = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE-----") :])
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.new(algorithm, der).hexdigest().upper()


def ensure_pki(state_dir: Path) -> SandboxPki:
    """Loads the CA and certificates from `state_dir`, generating whatever is missing or close to expiry."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca_path = state_dir / CA_FILE
    ca_key_path = state_dir / "sandbox-ca-key.pem"
    if not _still_valid(ca_path) or not ca_key_path.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write(ca_key_path, _private_pem(ca_key))
        _write(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
        (state_dir / SERVER_CERT_FILE).unlink(missing_ok=True)
    ca_key_loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key_loaded, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())

    server_cert_path, server_key_path = state_dir / SERVER_CERT_FILE, state_dir / SERVER_KEY_FILE
    if not _still_valid(server_cert_path) or not server_key_path.exists():
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _server_certificate(server_key.public_key(), ca_cert, ca_key_loaded)
        _write(server_key_path, _private_pem(server_key))
        _write(server_cert_path, server_cert.public_bytes(serialization.Encoding.PEM))

    client_path = state_dir / CLIENT_CERT_FILE
    if not _still_valid(client_path):
        # MSAL signs client assertions with RS256/PS256: the app's key must be RSA.
        client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        client_cert = _self_signed_client_certificate(client_key)
        _write(client_path, _private_pem(client_key) + client_cert.public_bytes(serialization.Encoding.PEM))

    signing_path = state_dir / SIGNING_KEY_FILE
    if not signing_path.exists():
        _write(signing_path, _private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))

    return SandboxPki(
        ca_path=ca_path,
        server_cert_path=server_cert_path,
        server_key_path=server_key_path,
        client_certificate_path=client_path,
        client_certificate_pem=client_path.read_bytes(),
        signing_key_pem=signing_path.read_bytes(),
    )


def _still_valid(cert_path: Path) -> bool:
    if not cert_path.exists():
        return False
    pem = cert_path.read_bytes()
    start = pem.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        return False
    certificate = x509.load_pem_x509_certificate(pem[start:])
    return certificate.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EmailBot M365 sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key: CertificatePublicKeyTypes) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = _name("EmailBot M365 sandbox CA")
    return (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    public_key: ec.EllipticCurvePublicKey, ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes
) -> x509.Certificate:
    alt_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    return (
        _builder(_name("localhost"), ca_cert.subject, public_key)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _self_signed_client_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    # Entra accepts self-signed certificates for app credentials; only the public key and thumbprint matter.
    name = _name("EmailBot sandbox app credential")
    return _builder(name, name, key.public_key()).sign(key, hashes.SHA256())
