"""Collected evidence: observations keyed by device, merged into report devices (MAC where on-link, else IP).

Every discovery and probe step writes here; only agent.report turns it into the report document.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fingerprints.report import Observation, normalise_mac

MAX_VALUE = 16_384


@dataclass
class DeviceEvidence:
    """Everything heard about one device."""

    mac: str | None = None
    ips: list[str] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)


class EvidenceBook:
    """Thread-safe store of observations about devices, keyed by IP and MAC."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_ip: dict[str, list[Observation]] = defaultdict(list)
        self._by_mac: dict[str, list[Observation]] = defaultdict(list)
        self._ip_to_mac: dict[str, str] = {}
        self._hostnames: dict[str, list[str]] = defaultdict(list)
        self._seen: set[tuple[str, str, str, int | None]] = set()

    def add(
        self,
        kind: str,
        value: str,
        *,
        source: str,
        ip: str | None = None,
        mac: str | None = None,
        port: int | None = None,
        proto: str | None = None,
    ) -> bool:
        """Record one observation; duplicates (same device, kind, value, port) are dropped. False when
        invalid."""
        value = value.strip().replace("\x00", "")[:MAX_VALUE]
        if not value or (ip is None and mac is None):
            return False
        try:
            obs = Observation(
                kind=kind,
                value=value,
                port=port,
                proto=proto,  # type: ignore[arg-type]
                source=source[:255],
                seen_at=datetime.now(UTC),
            )
            mac = normalise_mac(mac) if mac else None
        except ValueError:
            return False
        with self._lock:
            if mac is None and ip is not None:
                mac = self._ip_to_mac.get(ip)
            dedupe = (mac if mac is not None else str(ip), kind, obs.value, port)
            if dedupe in self._seen:
                return False
            self._seen.add(dedupe)
            if mac is not None:
                self._by_mac[mac].append(obs)
                if ip is not None:
                    self._ip_to_mac.setdefault(ip, mac)
            else:
                assert ip is not None
                self._by_ip[ip].append(obs)
        return True

    def link(self, ip: str, mac: str) -> None:
        """Note that ip is on-link at mac (ARP answer or passive frame); emits the `mac` observation once."""
        try:
            mac = normalise_mac(mac)
        except ValueError:
            return
        with self._lock:
            self._ip_to_mac.setdefault(ip, mac)

    def mac_of(self, ip: str) -> str | None:
        with self._lock:
            return self._ip_to_mac.get(ip)

    def add_hostname(self, ip: str, name: str) -> None:
        name = name.strip().rstrip(".")[:255]
        with self._lock:
            if name and name not in self._hostnames[ip]:
                self._hostnames[ip].append(name)

    def known_ips(self) -> list[str]:
        with self._lock:
            return sorted(set(self._by_ip) | set(self._ip_to_mac), key=ipaddress.ip_address)

    def devices(self) -> list[DeviceEvidence]:
        """Group everything per device: by MAC where known, otherwise by IP."""
        with self._lock:
            by_mac: dict[str, DeviceEvidence] = {}
            for mac, observations in self._by_mac.items():
                by_mac[mac] = DeviceEvidence(mac=mac, observations=list(observations))
            for ip, mac in self._ip_to_mac.items():
                dev = by_mac.setdefault(mac, DeviceEvidence(mac=mac))
                if ip not in dev.ips:
                    dev.ips.append(ip)
            out = list(by_mac.values())
            for ip, observations in self._by_ip.items():
                linked = self._ip_to_mac.get(ip)
                if linked is not None:
                    by_mac[linked].observations.extend(observations)
                else:
                    out.append(DeviceEvidence(ips=[ip], observations=list(observations)))
            for dev in out:
                for ip in dev.ips:
                    for name in self._hostnames.get(ip, []):
                        if name not in dev.hostnames:
                            dev.hostnames.append(name)
                if dev.mac and not any(o.kind == "mac" for o in dev.observations):
                    dev.observations.insert(
                        0,
                        Observation(kind="mac", value=dev.mac, proto="l2", source="arp", seen_at=datetime.now(UTC)),
                    )
                dev.ips.sort(key=ipaddress.ip_address)
                # Evidence stored by IP before the IP's MAC was known may repeat evidence stored by MAC.
                unique: dict[tuple[str, str, int | None], Observation] = {}
                for o in dev.observations:
                    unique.setdefault((o.kind, o.value, o.port), o)
                dev.observations = list(unique.values())

        def order(dev: DeviceEvidence) -> tuple[int, int, str]:
            if dev.ips:
                return (0, int(ipaddress.ip_address(dev.ips[0])), "")
            return (1, 0, dev.mac or "")

        return sorted(out, key=order)
