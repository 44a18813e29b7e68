"""The client identity an IEEE 2030.5 meter knows us by: key, certificate, LFDI, SFDI.

The utility registers the client's LFDI (a hash of its certificate) with the meter; the
meter then accepts TLS connections presenting that certificate. Generating a new one means
a new registration, so an identity is created once, kept, and never replaced silently.

Everything here is blocking (key generation, PEM parsing, SSL context loading): call it
from an executor.
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

POLICY_OID: Final = x509.ObjectIdentifier("1.3.6.1.4.1.40732.2.2")
COMMON_NAME: Final = "MeterReaderHanClient"
VALIDITY: Final = datetime.timedelta(days=1094)
CIPHERS: Final = "ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0"


class IdentityError(ValueError):
    """An imported certificate or key is unusable; ``reason`` names the problem."""

    def __init__(self, reason: str) -> None:
        """Keep the reason.

        One of invalid_pem, wrong_curve, not_self_signed, missing_policy, key_mismatch,
        expired.
        """
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """A client certificate and its private key (PEM), and the ids derived from it."""

    certificate_pem: str
    key_pem: str
    lfdi: str
    sfdi: int

    def __repr__(self) -> str:
        """Never show the key."""
        return f"Identity(lfdi={self.lfdi!r}, sfdi={self.sfdi})"


def lfdi_of(certificate_der: bytes) -> str:
    """The first 40 hex digits (upper case) of SHA-256 over the certificate's DER bytes."""
    return hashlib.sha256(certificate_der).hexdigest()[:40].upper()


def sfdi_of(lfdi: str) -> int:
    """The first 9 hex digits as a decimal number, then a check digit (sum % 10 == 0)."""
    number = int(lfdi[:9], 16)
    digits = sum(int(d) for d in str(number))
    return number * 10 + (10 - digits % 10) % 10


def grouped(lfdi: str) -> str:
    """Eight groups of five, as the utility portal accepts it."""
    return "-".join(lfdi[n : n + 5] for n in range(0, 40, 5))


def generate_identity(now: datetime.datetime | None = None) -> Identity:
    """A new P-256 key and self-signed certificate with the profile the meters expect."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    start = now or datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(POLICY_OID, None)]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return load_identity(
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        now=start,
    )


def load_identity(
    certificate_pem: str,
    key_pem: str,
    now: datetime.datetime | None = None,
    *,
    check_validity: bool = True,
) -> Identity:
    """Check an existing certificate and key against the profile; keep its LFDI.

    ``check_validity=False`` accepts an identity already in use whose certificate has
    expired since: whether the meter still accepts it is the meter's decision.
    """
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        raise IdentityError("invalid_pem") from err
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
        public.curve, ec.SECP256R1
    ):
        raise IdentityError("wrong_curve")
    if certificate.issuer != certificate.subject:
        raise IdentityError("not_self_signed")
    try:
        public.verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature as err:
        raise IdentityError("not_self_signed") from err
    try:
        policies = certificate.extensions.get_extension_for_class(
            x509.CertificatePolicies
        ).value
    except x509.ExtensionNotFound as err:
        raise IdentityError("missing_policy") from err
    if POLICY_OID not in [policy.policy_identifier for policy in policies]:
        raise IdentityError("missing_policy")
    if (
        not isinstance(key, ec.EllipticCurvePrivateKey)
        or key.public_key().public_numbers() != public.public_numbers()
    ):
        raise IdentityError("key_mismatch")
    moment = now or datetime.datetime.now(datetime.UTC)
    valid = (
        certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc
    )
    if check_validity and not valid:
        raise IdentityError("expired")
    lfdi = lfdi_of(certificate.public_bytes(serialization.Encoding.DER))
    return Identity(certificate_pem, key_pem, lfdi, sfdi_of(lfdi))


class MeterTlsContext(ssl.SSLContext):
    """A client context that offers the last TLS session to the next connection.

    Python's ``ssl`` resumes a session only when it is passed to ``wrap_bio`` /
    ``wrap_socket`` (``session=``), which neither asyncio's ``create_connection`` nor
    aiohttp exposes. Both create their TLS objects through ``wrap_bio``, so this context
    adds the session there: the client stores the session of each connection it makes in
    :attr:`resume`, and the next connection offers it (an abbreviated handshake, if the
    meter still knows it; otherwise the meter simply does a full one).

    The TLS object of the newest connection is kept in :attr:`last`: it is the
    transport's ``ssl_object``, from which the client takes the meter's certificate
    (aiohttp releases a connection, and with it the transport, as soon as a short
    answer is read, so the response cannot be asked for it).

    It also never sends a server name (SNI): the meter has none to check, and the
    hostname is not verified (the meter is pinned by its LFDI instead).
    """

    resume: ssl.SSLSession | None = None
    last: ssl.SSLObject | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """The TLS object of a new connection, offered the last session.

        A client context (``PROTOCOL_TLS_CLIENT``) makes client connections only.
        """
        self.last = super().wrap_bio(
            incoming, outgoing, server_side, None, session or self.resume
        )
        return self.last


def client_ssl_context(identity: Identity) -> MeterTlsContext:
    """TLS 1.2, CCM8, legacy renegotiation, our certificate; the meter is pinned by LFDI.

    The meter's certificate chains to a manufacturer root in no trust store, so it is not
    verified here: the caller compares its LFDI with the one recorded at setup. TLS
    sessions are resumed on reconnects (see :class:`MeterTlsContext`).
    """
    context = MeterTlsContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_LEGACY_SERVER_CONNECT
    context.set_ciphers(CIPHERS)
    # load_cert_chain reads files only: a private directory, removed at once.
    with tempfile.TemporaryDirectory() as folder:
        certificate_file = Path(folder) / "client.pem"
        key_file = Path(folder) / "client.key"
        key_file.touch(mode=0o600)
        key_file.write_text(identity.key_pem, encoding="ascii")
        certificate_file.write_text(identity.certificate_pem, encoding="ascii")
        context.load_cert_chain(certificate_file, key_file)
    return context
