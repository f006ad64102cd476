"""The gateway's certificate when a shared machine has no domain: roost's own small CA.

The CA lives on this computer only (``$ROOST_HOME/ca/MACHINE.crt`` and its 0600 key): the
machine gets a leaf certificate and the leaf's key, never the CA's key, so nobody on the
machine (every Jupyter user, say) can sign for other sites. The CA is name-constrained to the
machine's own names and addresses, so a browser that imports it (``roost trust``) trusts it
for that machine and nothing else. A new address (an instance started again) gets a new CA;
a leaf is issued again before it has 30 days left.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from roost.paths import roost_home, write_private

if TYPE_CHECKING:
    from cryptography.x509 import GeneralName

VALID_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)


def ca_files(machine: str) -> tuple[Path, Path]:
    """(certificate, key) of the machine's CA on this computer."""
    folder = roost_home() / "ca"
    return folder / f"{machine}.crt", folder / f"{machine}.key"


def _subject_names(names: list[str]) -> list[GeneralName]:
    from cryptography import x509  # start-up time: only sharing needs it

    found: list[GeneralName] = []
    for name in names:
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            found.append(x509.DNSName(name))
    return found


def _constraints(names: list[str]) -> list[GeneralName]:
    from cryptography import x509  # start-up time: only sharing needs it

    permitted: list[GeneralName] = []
    for name in names:
        try:
            address = ipaddress.ip_address(name)
            permitted.append(x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}")))
        except ValueError:
            permitted.append(x509.DNSName(name))
    return permitted


def ensure_ca(machine: str, names: list[str]) -> Path:
    """The machine's CA certificate, made (or made again) so that it is constrained to exactly
    ``names``; its key is written 0600 beside it and never leaves this computer."""
    from cryptography import x509  # start-up time: only sharing needs it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = ca_files(machine)
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        constraint = current.extensions.get_extension_for_class(x509.NameConstraints).value
        if sorted(map(str, constraint.permitted_subtrees or [])) == sorted(map(str, _constraints(names))):
            return cert_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"roost CA for {machine}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=10 * VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # certificate and CRL signing only
        .add_extension(
            x509.NameConstraints(permitted_subtrees=_constraints(names), excluded_subtrees=None), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(mode=0o700, exist_ok=True)
    write_private(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def leaf_is_current(pem: str, ca: Path, names: list[str]) -> bool:
    """True when ``pem`` is a leaf from this CA for exactly ``names`` with 30 days or more left."""
    from cryptography import x509  # start-up time: only sharing needs it
    from cryptography.exceptions import InvalidSignature  # start-up time: only sharing needs it

    try:
        leaf = x509.load_pem_x509_certificate(pem.encode())
        issuer = x509.load_pem_x509_certificate(ca.read_bytes())
        leaf.verify_directly_issued_by(issuer)
        alternative = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, OSError, InvalidSignature):
        return False  # not ours (another CA signed it), or not a certificate at all
    same_names = sorted(map(str, alternative)) == sorted(map(str, _subject_names(names)))
    left = leaf.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return same_names and left > RENEW_BEFORE


def issue_leaf(machine: str, names: list[str]) -> tuple[bytes, bytes]:
    """(certificate, key) PEM of a new leaf for ``names``, signed by the machine's CA."""
    from cryptography import x509  # start-up time: only sharing needs it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_path, key_path = ca_files(machine)
    ca = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_subject_names(names)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def forget_ca(machine: str) -> None:
    """Delete the machine's CA (certificate and key) from this computer."""
    for path in ca_files(machine):
        path.unlink(missing_ok=True)
