"""Pseudonymisation of organisation names (keyed hash) and of evidence that would name them, for wider distribution.

With a configured key (HERKOMST_REPORT_PSEUDONYM_KEY) an organisation keeps its pseudonym from one report to the
next, so readers can follow it over time without learning who it is. Without one, each report draws a random key:
pseudonyms are then only consistent within that report, which is the safer default.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Evidence kinds whose values routinely carry host, domain or organisation names (certificates, host names,
# page titles, LLDP system names). In a pseudonymised report they would undo the pseudonym, so they are withheld.
NAMING_KINDS = frozenset({
    "tls.subject", "tls.issuer", "dhcp.hostname", "lldp.sysname", "http.title", "http.www_authenticate",
    "mdns.device_info", "mdns.service", "snmp.sysdescr", "lldp.sysdesc", "upnp.model",
})


class Pseudonymiser:
    """Maps organisation names to stable `ORG-XXXXXXXX` pseudonyms under one key."""

    def __init__(self, key: bytes | None) -> None:
        self.keyed = key is not None
        self._key = key if key is not None else secrets.token_bytes(32)

    def name(self, organisation: str) -> str:
        digest = hmac.new(self._key, organisation.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"ORG-{digest[:10].upper()}"

    def evidence_value(self, kind: str, value: str) -> str:
        """The value, or a placeholder when its kind tends to name the organisation."""
        return f"[withheld: {kind} may name the organisation]" if kind in NAMING_KINDS else value

    def note(self) -> str:
        if self.keyed:
            return ("Organisation names are replaced by a keyed hash (HMAC-SHA-256) under the collector's report key; "
                    "the same organisation keeps the same pseudonym across reports. Evidence that tends to name "
                    "an organisation (certificates, host names, page titles) is withheld.")
        return ("Organisation names are replaced by a keyed hash (HMAC-SHA-256) under a key drawn for this report "
                "alone; pseudonyms are consistent within this report but not across reports. Evidence that tends "
                "to name an organisation (certificates, host names, page titles) is withheld.")
