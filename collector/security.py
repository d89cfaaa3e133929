"""Credentials: generation, the hash kept at rest, and constant-time verification.

Every credential is `<prefix>_<lookup>_<secret>`: the lookup finds the row, the secret is 32 random bytes of which
only a SHA-256 (bound to the lookup) is stored. A fast hash is right here: the secrets are random, not passwords, so
there is nothing to brute-force, and verification stays cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

CredentialKind = Literal["agent", "api", "enrollment"]
PREFIX: dict[CredentialKind, str] = {"agent": "hka", "api": "hkt", "enrollment": "hke"}
KIND_BY_PREFIX = {v: k for k, v in PREFIX.items()}


@dataclass(frozen=True)
class NewCredential:
    token: str
    lookup: str
    secret_hash: str


@dataclass(frozen=True)
class ParsedCredential:
    kind: CredentialKind
    lookup: str
    secret: str


def hash_secret(lookup: str, secret: str) -> str:
    """The value stored at rest for a credential."""
    return hashlib.sha256(f"{lookup}.{secret}".encode()).hexdigest()


def new_credential(kind: CredentialKind) -> NewCredential:
    """A fresh credential; its token is shown once and never stored."""
    lookup = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewCredential(f"{PREFIX[kind]}_{lookup}_{secret}", lookup, hash_secret(lookup, secret))


def parse_credential(token: str) -> ParsedCredential | None:
    """Split a presented token; None when it has not the shape of any credential."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] not in KIND_BY_PREFIX:
        return None
    prefix, lookup, secret = parts
    if len(lookup) != 16 or not (20 <= len(secret) <= 100):
        return None
    return ParsedCredential(KIND_BY_PREFIX[prefix], lookup, secret)


def verify(parsed: ParsedCredential, secret_hash: str) -> bool:
    """Whether the presented secret matches the stored hash (constant time)."""
    return hmac.compare_digest(hash_secret(parsed.lookup, parsed.secret), secret_hash)
