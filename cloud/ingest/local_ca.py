"""A local certificate authority for the edge-cloud link: `vigil-cloud --make-ca DIR`.

Writes ``ca.pem``/``ca.key`` (keep the key offline), ``server.pem``/``server.key`` for the cloud
(subject alternative names from ``--hosts``), and ``edge-<id>.pem``/``.key`` per edge for mutual
TLS. ECDSA P-256 keys, SHA-256 signatures, server certificates valid ``SERVER_DAYS`` days; the
same shape as ``openssl req -x509`` + ``openssl x509 -req`` would give, without needing openssl.
Point ``server.tls`` at the server files (and ``client_ca_file`` at ``ca.pem`` for mTLS) and each
edge's ``cloud.tls`` at ``ca.pem`` and its own pair.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

CA_DAYS = 3650
SERVER_DAYS = 825       # the longest lifetime browsers' CA rules allow; a sane default for a site
EDGE_DAYS = 825


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key, cert) -> None:
    from cryptography.hazmat.primitives import serialization
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_suffix(".key")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)


def _name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vigil local CA"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sans(hosts: list[str]):
    from cryptography import x509
    out = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def make_ca(directory: str | Path, hosts: list[str], edges: list[str]) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = _key()
    ca = (x509.CertificateBuilder().subject_name(_name("Vigil local CA")).issuer_name(_name("Vigil local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    _write(out / "ca", ca_key, ca)

    def leaf(cn: str, days: int, usage, sans):
        key = _key()
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, b.sign(ca_key, hashes.SHA256())

    key, cert = leaf(hosts[0] if hosts else "localhost", SERVER_DAYS, ExtendedKeyUsageOID.SERVER_AUTH,
                     _sans(hosts or ["localhost"]))
    _write(out / "server", key, cert)
    for edge in edges:
        key, cert = leaf(edge, EDGE_DAYS, ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName(edge)])
        _write(out / f"edge-{edge}", key, cert)
    return out
