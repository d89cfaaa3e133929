"""The fragile OT device faults when flooded or sent a request it does not understand, and not otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from deploy.lab import Lab, LabDevice
from tests.lab.helpers import nmap, probe

pytestmark = pytest.mark.lab


@pytest.fixture
def fragile(lab: Lab) -> Iterator[LabDevice]:
    """The fragile device, freshly reset; reset again afterwards so other tests find it healthy."""
    lab.up()
    assert lab.fragile_faults() == []
    yield next(d for d in lab.devices() if d.fragile)
    lab.up()


def _limit(dev: LabDevice) -> int:
    return int(dev.service("modbus-fragile").params["max_packets_per_second"])


def test_identity_reads_and_neighbour_scans_do_not_fault_it(lab: Lab, fragile: LabDevice) -> None:
    svc = fragile.service("modbus-fragile")
    for read_code in ("1", "2", "3"):  # basic, regular, extended: a basic-level device answers all three
        got = probe(lab, "modbus", fragile.ip, str(svc.port), "-1", "0", read_code)
        assert got["info"]["0"] == svc.params["vendor_name"]
    # Scanning the other OT devices (ARP through the router, identity reads) must not count against it.
    others = [d for d in lab.devices() if d.segment == "ot" and not d.fragile]
    nmap(lab, "-sT", "-p", "102", "--script", "s7-info", *[d.ip for d in others])
    # A rate below the limit is fine.
    probe(lab, "udp-flood", fragile.ip, str(_limit(fragile)), "3")
    assert lab.fragile_faults() == []
    assert probe(lab, "modbus", fragile.ip, str(svc.port))["info"]["1"] == svc.params["product_code"]


def test_unknown_request_faults_it_until_up(lab: Lab, fragile: LabDevice) -> None:
    svc = fragile.service("modbus-fragile")
    # Function 0x5A (Schneider UMAS) is not something this device understands.
    probe(lab, "modbus-raw", fragile.ip, str(svc.port), "5a0002")
    faults = lab.fragile_faults()
    assert len(faults) == 1 and "0x5a" in faults[0].reason
    assert faults[0].device == fragile.name and faults[0].at
    assert "error" in probe(lab, "modbus", fragile.ip, str(svc.port))  # it stopped answering
    status = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "lab", "status", "--json"], capture_output=True, text=True, timeout=30
    )
    assert json.loads(status.stdout)["faults"][0]["reason"] == faults[0].reason
    lab.up()
    assert lab.fragile_faults() == []
    assert probe(lab, "modbus", fragile.ip, str(svc.port))["info"]["0"] == svc.params["vendor_name"]


def test_flood_faults_it(lab: Lab, fragile: LabDevice) -> None:
    limit = _limit(fragile)
    probe(lab, "udp-flood", fragile.ip, str(limit * 4), "1")
    faults = lab.fragile_faults()
    assert len(faults) == 1, faults
    assert faults[0].packets_per_second is not None and faults[0].packets_per_second > limit
    assert "error" in probe(lab, "modbus", fragile.ip, str(fragile.service("modbus-fragile").port))
