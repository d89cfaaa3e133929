"""The subject and issuer of a TLS certificate, as RFC 4514 strings, read with pyasn1's X.509 schema.

The agent reads no more of a certificate than its two names. `cryptography.x509` would do it, but importing it
costs some 12 MB of the agent's 100 MB (its OpenSSL bindings); pyasn1 and the RFC 5280 schema from pyasn1-modules
cost about 2.5 MB. The strings are those `cryptography`'s `Name.rfc4514_string()` gives — the fingerprint rules for
`tls.subject` and `tls.issuer` are written against them, and tests/agent/test_certificate.py holds the two to the
same output —: RDNs last to first, the short names CN L ST O OU C STREET DC UID and dotted OIDs for the rest, values
escaped as RFC 4514 says.
"""

from __future__ import annotations

from pyasn1.codec.der.decoder import decode
from pyasn1.error import PyAsn1Error
from pyasn1.type.char import AbstractCharacterString, BMPString, UniversalString, UTF8String
from pyasn1.type.univ import BitString, ObjectIdentifier
from pyasn1_modules import rfc5280

#: The attribute types `cryptography` writes by short name (its _NAMEOID_TO_NAME); every other type is dotted.
SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


class CertificateError(ValueError):
    """The bytes are not a DER X.509 certificate whose names can be read."""


def names(der: bytes) -> tuple[str, str]:
    """(subject, issuer) of a DER certificate as RFC 4514 strings; CertificateError if it cannot be decoded."""
    try:
        cert, _rest = decode(der, asn1Spec=rfc5280.Certificate())
        tbs = cert["tbsCertificate"]
        return _rfc4514(tbs["subject"]), _rfc4514(tbs["issuer"])
    except (PyAsn1Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CertificateError(f"not a readable X.509 certificate: {exc}") from exc


def _rfc4514(name: rfc5280.Name) -> str:
    rdns = name.getComponent()  # the RDNSequence, the only choice of Name
    parts = []
    for rdn in reversed(list(rdns)):
        parts.append("+".join(_attribute(atv) for atv in rdn))
    return ",".join(parts)


def _attribute(atv: rfc5280.AttributeTypeAndValue) -> str:
    oid = str(ObjectIdentifier(atv["type"]))
    decoded, _rest = decode(bytes(atv["value"]))  # an ANY: the value's own tag says which type it is
    if isinstance(decoded, BitString):  # a unique identifier, not text: '#' and its octets in hex, unescaped
        return f"{SHORT_NAMES.get(oid, oid)}=#{decoded.asOctets().hex()}"
    return f"{SHORT_NAMES.get(oid, oid)}={_escape(_text(decoded))}"


def _text(decoded: object) -> str:
    """The text of a string value: any DirectoryString choice (UTF-8, BMP, Universal, Printable, Teletex) or IA5."""
    if isinstance(decoded, BMPString | UniversalString | UTF8String):
        return str(decoded)
    if isinstance(decoded, AbstractCharacterString):
        octets: bytes = decoded.asOctets()
        return octets.decode("utf-8", errors="replace")
    return str(decoded)


def _escape(value: str) -> str:
    """RFC 4514 section 2.4, as `cryptography` applies it."""
    if not value:
        return value
    for ch in ("\\", '"', "+", ",", ";", "<", ">"):
        value = value.replace(ch, "\\" + ch)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value
