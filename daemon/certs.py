"""TLS for a painterly cluster: ``painterly cluster-certs DIR`` makes a certificate authority and one
certificate per role (``scheduler``, ``worker``, ``client`` for the daemon and ``painterly batch``), and
:func:`security` turns that folder into Dask's :class:`distributed.security.Security`.

Every connection of the cluster is then mutual TLS: each side proves it holds a certificate of this CA,
so a machine without one can neither join as a worker nor submit work. The CA's key only issues
certificates: keep it off the cluster machines once they have theirs.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path

ROLES = ("scheduler", "worker", "client")


def cert_paths(folder: Path, role: str) -> tuple[Path, Path]:
    return Path(folder) / f"{role}.pem", Path(folder) / f"{role}-key.pem"


def _write(path: Path, data: bytes, mode: int):
    """A new file (never through a link), replaced whole."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject, issuer, public_key, signing_key, days, ca: bool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:  # every role both accepts and opens connections
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_certs(folder: Path, days: int = 825, renew: bool = False) -> list[Path]:
    """Create the CA (unless ``folder`` has one) and each role's certificate (unless present, or with
    ``renew``); returns the files written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    ca_cert_path, ca_key_path = folder / "ca.pem", folder / "ca-key.pem"
    if ca_cert_path.is_file() and ca_key_path.is_file():
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "painterly cluster CA")])
        ca_cert = _certificate(name, name, ca_key.public_key(), ca_key, days, ca=True)
        _write(ca_key_path, _key_pem(ca_key), 0o600)
        _write(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        written += [ca_cert_path, ca_key_path]
    for role in ROLES:
        cert_path, key_path = cert_paths(folder, role)
        if cert_path.is_file() and key_path.is_file() and not renew:
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"painterly {role}")])
        cert = _certificate(subject, ca_cert.subject, key.public_key(), ca_key, days, ca=False)
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        written += [cert_path, key_path]
    return written


def security(folder: Path, role: str):
    """Dask's Security for ``role`` from a folder made by :func:`make_certs`: TLS required, both sides checked
    against the folder's CA."""
    from distributed.security import Security
    folder = Path(folder)
    cert, key = cert_paths(folder, role)
    missing = [str(p) for p in (folder / "ca.pem", cert, key) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no cluster certificate {', '.join(missing)}: make them with "
                                f"'painterly cluster-certs {folder}' and copy the folder to this machine")
    return Security(require_encryption=True, tls_ca_file=str(folder / "ca.pem"),
                    **{f"tls_{role}_cert": str(cert), f"tls_{role}_key": str(key)})
