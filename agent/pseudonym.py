"""Pseudonymisation of addresses and host names with HMAC-SHA256 and a key that stays with the operator.

An IP becomes an IPv6 address in fd68:6b00::/32 (a ULA label, never contacted) derived from the keyed hash,
so the
document keeps its schema and the same address always maps to the same pseudonym; host names become
`h-<hash>`.
MAC addresses are kept: the vendor prefix is the evidence. Occurrences of the real addresses and names inside
observation values are replaced too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

PREFIX = int(ipaddress.IPv6Address("fd68:6b00::"))
MIN_KEY_BYTES = 16


def load_key(path: Path) -> bytes:
    """Read the operator's key file; refuse short keys."""
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read pseudonymisation key {path}: {exc.strerror}") from exc
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"pseudonymisation key {path} is shorter than {MIN_KEY_BYTES} bytes; create one with "
            "`head -c 32 /dev/urandom | base64 > FILE`"
        )
    return key


class Pseudonymiser:
    """Maps addresses and names to keyed pseudonyms."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._replacements: dict[str, str] = {}

    def _digest(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode(), hashlib.sha256).digest()

    def ip(self, value: str) -> str:
        canonical = str(ipaddress.ip_address(value))
        low = int.from_bytes(self._digest("ip:" + canonical)[:12], "big")
        out = str(ipaddress.IPv6Address(PREFIX | low))
        self._replacements[canonical] = out
        return out

    def network(self, value: str) -> str:
        net = ipaddress.ip_network(value, strict=False)
        low = int.from_bytes(self._digest("net:" + str(net))[:12], "big")
        return f"{ipaddress.IPv6Address(PREFIX | low)}/128"

    def hostname(self, value: str) -> str:
        out = "h-" + self._digest("host:" + value.lower()).hex()[:20]
        self._replacements[value] = out
        return out

    def scrub(self, text: str) -> str:
        for real in sorted(self._replacements, key=len, reverse=True):
            if real in text:
                text = re.sub(rf"(?<![\w.]){re.escape(real)}(?![\w])", self._replacements[real], text)
        return text

    def document(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Pseudonymise a report document (as produced by Report.to_document) in place and return it."""
        scan = doc.get("scan", {})
        scan["scope"] = [self.network(n) for n in scan.get("scope", [])]
        scan["exclude"] = [self.network(n) for n in scan.get("exclude", [])]
        holders = list(doc.get("devices", []))
        if doc.get("host"):
            host = doc["host"]
            host["hostname"] = self.hostname(host["hostname"])
            holders.append(host)
        for holder in holders:
            holder["ips"] = [self.ip(ip) for ip in holder.get("ips", [])]
            if "hostnames" in holder:
                holder["hostnames"] = [self.hostname(h) for h in holder["hostnames"]]
        agent = doc.get("agent", {})
        if agent.get("hostname"):
            agent["hostname"] = self.hostname(agent["hostname"])
        for holder in holders:
            for obs in holder.get("observations", []):
                obs["value"] = self.scrub(obs["value"])
        return doc
