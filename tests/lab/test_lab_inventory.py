"""The device data file: coverage the issue requires, real OUIs, consistent ground truth, and the JSON output."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy.lab import IT_SUBNET, OT_SUBNET
from deploy.lab.cli import app
from deploy.lab.inventory import load_devices
from deploy.lab.model import FLAGGED_COUNTRIES

OUI_FILE = Path("/usr/share/ieee-data/oui.txt")
DEVICES = load_devices()


def _oui_registry() -> dict[str, str]:
    registry = {}
    for line in OUI_FILE.read_text(errors="replace").splitlines():
        if "(base 16)" in line:
            prefix, _, org = line.partition("(base 16)")
            registry[prefix.strip().upper()] = org.strip()
    return registry


def test_at_least_sixteen_devices_on_both_segments() -> None:
    assert len(DEVICES) >= 16
    assert {d.segment for d in DEVICES} == {"it", "ot"}


@pytest.mark.parametrize(
    ("what", "match"),
    [
        ("Hikvision camera", lambda d: d.vendor == "Hikvision" and d.brand is None and d.category == "ip-camera"),
        ("Dahua NVR", lambda d: d.vendor == "Dahua" and "NVR" in d.model),
        ("Huawei switch", lambda d: d.vendor == "Huawei" and d.category == "switch"),
        ("Huawei inverter over Modbus", lambda d: d.vendor == "Huawei" and "modbus" in d.protocols()),
        ("ZTE router/ONT", lambda d: d.vendor == "ZTE"),
        ("TP-Link AP", lambda d: d.vendor == "TP-Link" and d.category == "access-point"),
        ("Siemens S7 PLC", lambda d: d.vendor == "Siemens" and "s7" in d.protocols()),
        ("Schneider Modicon PLC", lambda d: d.vendor == "Schneider Electric" and "Modicon" in d.model),
        ("Rockwell PLC", lambda d: d.vendor == "Rockwell Automation" and "enip" in d.protocols()),
        ("BACnet controller", lambda d: "bacnet" in d.protocols()),
        ("Cisco switch", lambda d: d.vendor == "Cisco" and d.category == "switch"),
        ("firewall", lambda d: d.category == "firewall"),
        ("server BMC", lambda d: d.category == "server-bmc"),
        ("printer", lambda d: d.category == "printer"),
        ("Linux server with SSH", lambda d: d.category == "server" and "ssh" in d.protocols()),
        ("white-label camera", lambda d: d.brand not in (None, d.vendor) and d.vendor in ("Hikvision", "Dahua")),
        ("disagreeing observations", lambda d: d.disagreement is not None),
        ("passive-only device", lambda d: d.passive and set(d.protocols()) <= {"lldp", "cdp", "dhcp"}),
        ("fragile OT device", lambda d: d.fragile and d.segment == "ot"),
    ],
)
def test_required_device_present(what: str, match) -> None:  # type: ignore[no-untyped-def]
    assert any(match(d) for d in DEVICES), f"no {what} in devices.toml"


@pytest.mark.skipif(not OUI_FILE.exists(), reason="ieee-data is not installed (apt-get install ieee-data)")
def test_every_mac_uses_its_registrants_real_oui() -> None:
    registry = _oui_registry()
    for dev in DEVICES:
        prefix = dev.mac.replace(":", "")[:6].upper()
        assert registry.get(prefix) == dev.mac_registrant, f"{dev.name}: {prefix} is {registry.get(prefix)!r}"


def test_disagreeing_device_mac_names_a_component_maker_not_the_vendor() -> None:
    dev = next(d for d in DEVICES if d.disagreement)
    assert dev.vendor.lower().split()[0] not in dev.mac_registrant.lower()


def test_addresses_are_in_the_lab_range_and_unique() -> None:
    lab_range = ipaddress.ip_network("198.18.0.0/15")
    subnets = {"it": ipaddress.ip_network(IT_SUBNET), "ot": ipaddress.ip_network(OT_SUBNET)}
    for dev in DEVICES:
        assert ipaddress.ip_address(dev.ip) in lab_range
        assert ipaddress.ip_address(dev.ip) in subnets[dev.segment]
    assert len({d.ip for d in DEVICES}) == len(DEVICES)
    assert len({d.mac for d in DEVICES}) == len(DEVICES)


def test_flagged_iff_hq_or_owner_on_the_policy_list() -> None:
    for dev in DEVICES:
        assert dev.flagged == (dev.country in FLAGGED_COUNTRIES or dev.owner_country in FLAGGED_COUNTRIES), dev.name
    assert any(d.flagged for d in DEVICES) and any(not d.flagged for d in DEVICES)


def test_fragile_rate_threshold_is_declared_in_the_data_file() -> None:
    dev = next(d for d in DEVICES if d.fragile)
    assert int(dev.service("modbus-fragile").params["max_packets_per_second"]) > 0


def test_snmp_object_ids_use_the_vendors_enterprise_number() -> None:
    pens = {
        "Huawei": 2011,
        "Cisco": 9,
        "Fortinet": 12356,
        "Dell": 674,
        "HP": 11,
        "Siemens": 4329,
        "Schneider Electric": 3833,
    }
    for dev in DEVICES:
        if "snmp" in dev.protocols():
            oid = dev.service("snmp").params["sysobjectid"]
            assert oid.startswith(f"1.3.6.1.4.1.{pens[dev.vendor]}."), dev.name


def test_devices_json_prints_ground_truth_for_every_device() -> None:
    result = CliRunner().invoke(app, ["devices", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == [d.name for d in DEVICES]
    for row in rows:
        for key in (
            "name",
            "ip",
            "mac",
            "vendor",
            "country",
            "owner_country",
            "flagged",
            "model",
            "segment",
            "services",
        ):
            assert key in row, key
        assert isinstance(row["flagged"], bool)
