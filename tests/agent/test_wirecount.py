"""Which outgoing frames count as the scan's, and for which device (agent/discovery/wirecount.py). The lab tests
compare the whole count with a capture of the same scan."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from agent.discovery.dcp import identify_request
from agent.discovery.wirecount import LINK, _Windows, destination
from agent.scope import Scope

SCOPE = Scope.parse(["198.18.0.0/24", "2001:db8::/64"], exclude=["198.18.0.9"])
ME = "02:48:4b:00:00:0a"


def test_frames_to_addresses_in_scope_count_for_that_address() -> None:
    assert destination(bytes(Ether(src=ME) / IP(dst="198.18.0.21") / TCP(dport=80)), SCOPE) == "198.18.0.21"
    assert destination(bytes(Ether(src=ME) / Dot1Q(vlan=5) / IP(dst="198.18.0.22") / UDP(dport=161)), SCOPE) == \
        "198.18.0.22"
    assert destination(bytes(Ether(src=ME) / IPv6(dst="2001:db8::7") / UDP(dport=161)), SCOPE) == "2001:db8::7"
    # an ARP request counts for the address it asks for
    assert destination(bytes(Ether(src=ME, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="198.18.0.33")), SCOPE) == \
        "198.18.0.33"
    assert destination(identify_request(ME), SCOPE) == LINK  # PROFINET Identify: the link's, no one device's


def test_frames_outside_the_scope_are_not_the_scans() -> None:
    for frame in (Ether(src=ME) / IP(dst="192.0.2.1") / TCP(dport=443),  # delivery to a collector elsewhere
                  Ether(src=ME) / IP(dst="198.18.0.9") / TCP(dport=22),  # excluded
                  Ether(src=ME) / ARP(pdst="198.18.5.1")):
        assert destination(bytes(frame), SCOPE) is None
    assert destination(b"\x00" * 10, SCOPE) is None
    assert destination(bytes(Ether(src=ME, type=0x0800)) + b"\x45", SCOPE) is None  # truncated IPv4 header


def test_peak_rates_are_the_busiest_one_second_windows_overall_and_per_address() -> None:
    windows = _Windows()
    for i in range(30):
        windows.add(f"198.18.0.{i % 3}", 10.0 + i * 0.02)  # 30 frames in 0.6 s, 10 to each of three hosts
    windows.add(LINK, 10.61)
    windows.add("198.18.0.1", 12.0)  # a second later: a window of its own
    assert (windows.peak, windows.peak_host) == (31, 10)
