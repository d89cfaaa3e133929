"""Inventory of the agent's own machine: OS, DMI hardware, packages (dpkg/rpm with maintainer or vendor), PCI
and
USB devices (ids and names from pci.ids/usb.ids), network interfaces → fingerprints.report.HostInventory."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from fingerprints.report import HostInventory, Observation

DMI = Path("/sys/class/dmi/id")
IDS_DIRS = (Path("/usr/share/misc"), Path("/usr/share/hwdata"), Path("/usr/share/pci.ids").parent)
MAX_PACKAGES = 20_000


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def os_release(root: Path = Path("/")) -> str | None:
    fields = {}
    for line in _read(root / "etc/os-release").splitlines():
        key, _, value = line.partition("=")
        fields[key] = value.strip().strip('"')
    return fields.get("PRETTY_NAME") or fields.get("NAME")


def id_names(name: str, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Names from pci.ids / usb.ids for the (vendor id, device id) pairs present: "vendor device".

    The file is streamed and only the wanted entries are kept (the whole table would cost the agent ~6 MB).
    """
    path = next((folder / name for folder in IDS_DIRS if (folder / name).is_file()), None)
    if path is None or not wanted:
        return {}
    vendors = {vid for vid, _ in wanted}
    names: dict[tuple[str, str], str] = {}
    vid, vname = "", ""
    with path.open(errors="replace") as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("C "):  # class list at the end of the file
                break
            if not line.startswith("\t"):
                vid, _, vname = line.partition("  ")
                vid, vname = vid.lower(), vname.strip()
                if vid in vendors:
                    names.update({pair: vname for pair in wanted if pair[0] == vid and pair not in names})
            elif vid in vendors and not line.startswith("\t\t"):
                did, _, dname = line.strip().partition("  ")
                if (vid, did.lower()) in wanted:
                    names[(vid, did.lower())] = f"{vname} {dname.strip()}".strip()
    return names


def _bus_devices(root: Path, vendor_file: str, device_file: str, ids_file: str) -> list[str]:
    """'vendor:device name' of every device under a /sys bus directory, named from pci.ids/usb.ids."""
    pairs = set()
    for dev in root.glob("*") if root.is_dir() else []:
        vid, did = _read(dev / vendor_file).removeprefix("0x"), _read(dev / device_file).removeprefix("0x")
        if vid and did:
            pairs.add((vid.lower(), did.lower()))
    names = id_names(ids_file, pairs)
    return sorted(f"{vid}:{did} {names.get((vid, did), '')}".strip() for vid, did in pairs)


def pci_devices(root: Path = Path("/sys/bus/pci/devices")) -> list[str]:
    return _bus_devices(root, "vendor", "device", "pci.ids")


def usb_devices(root: Path = Path("/sys/bus/usb/devices")) -> list[str]:
    return _bus_devices(root, "idVendor", "idProduct", "usb.ids")


def packages() -> list[str]:
    """Installed packages as 'name version maintainer-or-vendor'."""
    out: list[str] = []
    if shutil.which("dpkg-query"):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${Maintainer}\n"],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in result.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[0].startswith("ii"):
                out.append(" ".join(p for p in parts[1:] if p))
    if shutil.which("rpm"):
        result = subprocess.run(
            ["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\n"],
            capture_output=True,
            text=True,
            check=False,
        )
        out += [" ".join(p for p in line.split("\t") if p and p != "(none)") for line in result.stdout.splitlines()]
    return out[:MAX_PACKAGES]


def collect() -> HostInventory:
    """Inventory this machine."""
    from agent.discovery.interfaces import interfaces

    now = datetime.now(UTC)
    obs: list[Observation] = []
    vendor, product = _read(DMI / "sys_vendor"), _read(DMI / "product_name")
    if vendor or product:
        obs.append(
            Observation(
                kind="host.hardware",
                value=f"{vendor} {product}".strip(),
                proto="host",
                source="inventory.dmi",
                seen_at=now,
            )
        )
    obs += [
        Observation(kind="host.package", value=p[:16_384], proto="host", source="inventory.packages", seen_at=now)
        for p in packages()
        if p
    ]
    obs += [
        Observation(kind="host.pci", value=p, proto="host", source="inventory.pci", seen_at=now) for p in pci_devices()
    ]
    obs += [
        Observation(kind="host.usb", value=u, proto="host", source="inventory.usb", seen_at=now) for u in usb_devices()
    ]
    macs: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    try:
        ifaces = interfaces()
    except Exception:  # noqa: BLE001 - an inventory without interfaces is still an inventory
        ifaces = []
    for iface in ifaces:
        if iface.mac and iface.mac != "00:00:00:00:00:00" and iface.mac not in macs and len(iface.mac) == 17:
            macs.append(iface.mac)
            obs.append(
                Observation(kind="mac", value=iface.mac, proto="l2", source=f"inventory.if.{iface.name}", seen_at=now)
            )
        ips += [net.ip for net in iface.networks if net.ip not in ips]
    return HostInventory(
        hostname=socket.gethostname()[:255] or "unknown",
        os=os_release(),
        macs=macs[:64],
        ips=ips[:64],
        observations=obs,
    )
