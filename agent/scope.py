"""The scan scope: the CIDRs the operator gave, minus exclusions; every target the agent touches is checked
here.

There is no default scope. Targets are always expanded to explicit addresses by the agent itself and checked
one by
one, so nothing downstream (nmap in particular) ever gets a name or a range it could expand beyond the scope.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from agent.errors import ScopeError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """Parse CIDRs (comma-separated lists allowed); raise ScopeError naming the bad entry."""
    networks: list[IPNetwork] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ScopeError(
                    f"{part!r} is not a CIDR or address; give scopes as addresses or CIDRs like 10.1.2.0/24 "
                    "(names are refused: they could resolve outside the scope)"
                ) from exc
    return networks


@dataclass(frozen=True)
class Scope:
    """CIDRs to scan minus exclusions."""

    include: tuple[IPNetwork, ...]
    exclude: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, include: Iterable[str], exclude: Iterable[str] = ()) -> Scope:
        inc = parse_networks(include)
        if not inc:
            raise ScopeError("no scope given: the agent scans nothing by default; pass --scope CIDR[,CIDR…]")
        return cls(tuple(inc), tuple(parse_networks(exclude)))

    def contains(self, address: str | IPAddress) -> bool:
        """True when the address is inside an included CIDR and outside every exclusion."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return False
        return any(ip in net for net in self.include) and not any(ip in net for net in self.exclude)

    def check(self, target: str) -> IPAddress:
        """Return the address of a single target, or raise ScopeError when it is a name, a range, or
        outside."""
        try:
            ip = ipaddress.ip_address(target)
        except ValueError as exc:
            raise ScopeError(f"target {target!r} is not a single IP address; names and ranges are refused") from exc
        if not self.contains(ip):
            raise ScopeError(f"target {ip} is outside the scope {self.describe()}; refused")
        return ip

    def size(self) -> int:
        """Upper bound of the number of addresses (exclusions not subtracted)."""
        return sum(net.num_addresses for net in self.include)

    def addresses(self, max_hosts: int) -> Iterator[IPAddress]:
        """Every usable host address in scope, in order, once; ScopeError when there would be more than
        max_hosts."""
        # Refuse before walking a huge range; the exact count (after exclusions) is checked while walking.
        if self.size() > max_hosts * 16:
            raise ScopeError(
                f"scope {self.describe()} holds {self.size()} addresses, more than the limit of {max_hosts}; "
                "narrow it or raise max_hosts"
            )
        seen: set[IPAddress] = set()
        count = 0
        for net in self.include:
            hosts: Iterable[IPAddress] = net.hosts() if net.num_addresses > 2 else net
            for ip in hosts:
                if ip in seen or not self.contains(ip):
                    continue
                seen.add(ip)
                count += 1
                if count > max_hosts:
                    raise ScopeError(f"scope {self.describe()} holds more than {max_hosts} hosts; narrow it")
                yield ip

    def filter(self, targets: Iterable[str | IPAddress]) -> list[IPAddress]:
        """Keep only the targets inside the scope (used on discovery results, which may answer from
        anywhere)."""
        out: list[IPAddress] = []
        for target in targets:
            try:
                ip = ipaddress.ip_address(target) if isinstance(target, str) else target
            except ValueError:
                continue
            if self.contains(ip) and ip not in out:
                out.append(ip)
        return out

    def describe(self) -> str:
        text = ",".join(str(n) for n in self.include)
        if self.exclude:
            text += " minus " + ",".join(str(n) for n in self.exclude)
        return text
