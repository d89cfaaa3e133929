"""Loads the lab's device data file (devices.toml) into ground-truth records and checks it."""

from __future__ import annotations

import ipaddress
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from deploy.lab.model import FLAGGED_COUNTRIES, IT_SUBNET, OT_SUBNET, PROTOCOL_TRANSPORT, LabDevice, LabService

DEVICES_FILE = Path(__file__).with_name("devices.toml")
_SUBNETS = {"it": ipaddress.ip_network(IT_SUBNET), "ot": ipaddress.ip_network(OT_SUBNET)}


class InventoryError(ValueError):
    """devices.toml is inconsistent; the message names the device and the field to fix."""


def _service(device: str, raw: dict[str, Any]) -> LabService:
    protocol = raw.get("protocol")
    if protocol not in PROTOCOL_TRANSPORT:
        raise InventoryError(f"{device}: unknown service protocol {protocol!r} in {DEVICES_FILE}")
    transport, default_port = PROTOCOL_TRANSPORT[protocol]
    port = raw.get("port", default_port)
    params = {k: v for k, v in raw.items() if k != "protocol"}
    return LabService(protocol=protocol, transport=transport, port=port, params=params)


def _device(raw: dict[str, Any]) -> LabDevice:
    name = raw["name"]
    dev = LabDevice(
        name=name,
        vendor=raw["vendor"],
        model=raw["model"],
        category=raw["category"],
        mac=raw["mac"].lower(),
        mac_registrant=raw["mac_registrant"],
        ip=raw["ip"],
        segment=raw["segment"],
        country=raw["country"],
        owner_country=raw["owner_country"],
        flagged=bool(raw["flagged"]),
        services=tuple(_service(name, s) for s in raw.get("service", [])),
        brand=raw.get("brand"),
        passive=bool(raw.get("passive", False)),
        fragile=bool(raw.get("fragile", False)),
        note=raw.get("note"),
        disagreement=raw.get("disagreement"),
    )
    if dev.segment not in _SUBNETS or ipaddress.ip_address(dev.ip) not in _SUBNETS[dev.segment]:
        raise InventoryError(f"{name}: address {dev.ip} is not in the {dev.segment!r} segment's subnet")
    expected = dev.country in FLAGGED_COUNTRIES or dev.owner_country in FLAGGED_COUNTRIES
    if dev.flagged != expected:
        raise InventoryError(f"{name}: flagged={dev.flagged} but countries {dev.country}/{dev.owner_country}")
    if len(name) > 20 or not name.replace("-", "").isalnum():
        raise InventoryError(f"{name}: device names are short [a-z0-9-] (they name network namespaces)")
    return dev


@lru_cache(maxsize=1)
def load_devices(path: Path = DEVICES_FILE) -> tuple[LabDevice, ...]:
    """All devices declared in devices.toml, in file order."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    devices = tuple(_device(d) for d in data.get("device", []))
    for attr in ("name", "ip", "mac"):
        values = [getattr(d, attr) for d in devices]
        dupes = {v for v in values if values.count(v) > 1}
        if dupes:
            raise InventoryError(f"duplicate device {attr} in {path}: {sorted(dupes)}")
    return devices


def get_device(name: str) -> LabDevice:
    """The device called `name`; KeyError listing the known names otherwise."""
    for dev in load_devices():
        if dev.name == name:
            return dev
    raise KeyError(f"no lab device {name!r}; known: {', '.join(d.name for d in load_devices())}")
