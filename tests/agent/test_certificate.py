"""The agent reads a certificate's names with pyasn1, to the same strings as `cryptography` (agent/probes/certificate.py
says why). `cryptography` stays installed for the collector and the lab, so it is the oracle here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.probes.certificate import CertificateError, names

#: Debian's ca-certificates: some 140 real certificates of real organisations, with names in PrintableString,
#: UTF8String, BMPString and TeletexString, e-mail addresses, multi-valued RDNs and non-Latin letters.
MOZILLA = Path("/usr/share/ca-certificates/mozilla")


def _expected(der: bytes) -> tuple[str, str]:
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


def _der(subject: x509.Name, issuer: x509.Name) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_real_certificates_read_as_cryptography_reads_them() -> None:
    paths = sorted(MOZILLA.glob("*.crt"))
    assert len(paths) > 100, "install Debian's ca-certificates (deploy/setup.sh does)"
    for path in paths:
        der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
        assert names(der) == _expected(der), path.name


def test_names_that_need_escaping_multi_valued_rdns_and_other_string_types() -> None:
    from cryptography.x509.name import _ASN1Type

    subject = x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "cam-01"),
                                        x509.NameAttribute(NameOID.SERIAL_NUMBER, "DS-2CD2143G2")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Hangzhou, "Hik" +<Vision>;')]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "#1 ")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.LOCALITY_NAME, " Shenzhen\\")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "lab")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.USER_ID, "u1")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "浙江省",
                                                           _ASN1Type.BMPString)]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.STREET_ADDRESS, "Straße 1",
                                                           _ASN1Type.UniversalString)]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]),
    ])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, " ")])
    der = _der(subject, issuer)
    assert names(der) == _expected(der)
    assert names(der)[0].startswith("C=CN,STREET=Straße 1,ST=浙江省,UID=u1,DC=lab,1.2.840.113549.1.9.1=ops@example.com")


def test_bytes_that_are_no_certificate_are_refused_with_a_reason() -> None:
    for junk in (b"", b"\x30\x03\x02\x01\x01", b"GET / HTTP/1.0\r\n\r\n", b"\x30\x82\xff\xff" + b"\x00" * 40):
        with pytest.raises(CertificateError, match="not a readable X.509 certificate"):
            names(junk)


def test_reading_names_does_not_import_cryptography() -> None:
    import subprocess
    import sys

    der = _der(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]),
               x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "y")]))
    code = ("import sys; from agent.probes.certificate import names; "
            f"assert names({der!r}) == ('CN=x', 'CN=y'); "
            "assert not [m for m in sys.modules if m.startswith('cryptography')], 'cryptography was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
