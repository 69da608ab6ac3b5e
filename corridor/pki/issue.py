"""Creating CAs and issuing certificates with `cryptography`. Keys are EC P-256."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from corridor.pki.files import write_atomic, write_secret

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey | None  # None when issued from a CSR: the holder keeps its key


def _name(common_name: str, org: str = "Corridor") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(common_name: str, days: int = 3650, now: dt.datetime | None = None) -> Issued:
    now = now or dt.datetime.now(dt.UTC)
    key = new_key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    subject: x509.Name | str,
    *,
    server_names: tuple[str, ...] = (),
    client: bool = False,
    server: bool = False,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | None = None,
    days: int = 365,
    now: dt.datetime | None = None,
) -> Issued:
    """Issue a leaf certificate signed by `ca`. With `public_key` (from a CSR) no key is made."""
    assert ca.key is not None
    now = now or dt.datetime.now(dt.UTC)
    key = None if public_key is not None else new_key()
    pub = public_key if public_key is not None else key.public_key()  # type: ignore[union-attr]  # key is set exactly when public_key is None
    name = _name(subject) if isinstance(subject, str) else subject
    usages = []
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def write_issued(issued: Issued, cert_path: Path, key_path: Path | None = None) -> None:
    """Write the certificate (0644) and, if there is one, the private key (0600)."""
    if issued.key is not None and key_path is not None:
        pem = issued.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_secret(key_path, pem)  # the key first: a certificate never lacks its key
    write_atomic(cert_path, issued.cert.public_bytes(serialization.Encoding.PEM))


def load_issued(cert_path: Path, key_path: Path | None = None) -> Issued:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = None
    if key_path is not None and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return Issued(cert, key)  # type: ignore[arg-type]  # the hub writes only the key types Issued names


def fingerprint(cert: x509.Certificate | bytes) -> str:
    """SHA-256 of the DER certificate, lowercase hex: a partner's pin (Partner.cert_pin_sha256)."""
    if isinstance(cert, bytes):
        cert = x509.load_der_x509_certificate(cert)
    return cert.fingerprint(hashes.SHA256()).hex()


def subject_name(text: str) -> x509.Name:
    """A subject written as in the site files (RFC 4514: "CN=payfast,O=PayFast,C=IN")."""
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise ValueError(f"subject {text!r} does not parse: {exc}") from None


def csr_public_key(pem: bytes) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    """The public key of a partner's CSR, after checking the CSR is signed by that key.
    The subject is not taken from the CSR: the hub decides it from the site."""
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError:
        raise ValueError("not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise ValueError("the CSR's signature does not verify")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise ValueError("RSA keys shorter than 2048 bits are refused")
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ValueError("only EC and RSA keys are accepted")
    return key


def csr_subject(pem: bytes) -> x509.Name:
    """The subject a partner's CSR asks for (empty when it names none). The hub issues the
    site's subject whatever the CSR says; this is only to catch a CSR made for another."""
    try:
        return x509.load_pem_x509_csr(pem).subject
    except ValueError:
        raise ValueError("not a PEM certificate signing request") from None


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """Whether two names carry the same attributes, in whatever order they list them."""
    def attributes(name: x509.Name) -> list[tuple[str, str]]:
        return sorted((attr.oid.dotted_string, str(attr.value)) for attr in name)

    return attributes(a) == attributes(b)


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""
