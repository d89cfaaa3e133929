"""Per-device net-snmp snmpd: renders its configuration and the command that runs it inside the device's namespace."""

from __future__ import annotations

from pathlib import Path

from deploy.lab.model import LabDevice, LabService


def _quote(text: str) -> str:
    # snmpd.conf takes the rest of the line as the value, so line breaks are folded into spaces.
    return " ".join(text.split())


def render_config(device: LabDevice, svc: LabService) -> str:
    """snmpd.conf for one device: read-only community `public` and any SNMPv3 users (`v3_users`), listening on
    the device's address only."""
    p = svc.params
    lines = [
        f"agentAddress udp:{device.ip}:{svc.port or 161}",
        "rocommunity public 198.18.0.0/15",
        f"sysDescr {_quote(p['sysdescr'])}",
        f"sysObjectID .{p['sysobjectid'].lstrip('.')}",
        f"sysName {_quote(p.get('sysname', device.name))}",
        f"sysContact {_quote(p.get('syscontact', 'noc@example.invalid'))}",
        f"sysLocation {_quote(p.get('syslocation', 'Herkomst lab, ' + device.segment.upper() + ' segment'))}",
        "sysServices 72",
        # The exact bytes, line breaks included (real Cisco and Huawei sysDescr values are multi-line): an
        # override with a hex value is the one way snmpd.conf can carry them.
        f"override .1.3.6.1.2.1.1.1.0 octet_str 0x{p['sysdescr'].encode('latin-1').hex()}",
        # SNMPv3 users (authPriv), as operators configure gear whose v2c they are switching off
        *(line for user in p.get("v3_users", ()) for line in (
            f'createUser {user["user"]} {user["auth"]} "{user["auth_key"]}" {user["priv"]} "{user["priv_key"]}"',
            f"rouser {user['user']} priv")),
        # Keep the agent quiet and self-contained: no traps, no AgentX master, nothing persisted outside the run dir.
        "master no",
        "dontLogTCPWrappersConnects yes",
    ]
    return "\n".join(lines) + "\n"


def command(config: Path, log: Path) -> list[str]:
    """The snmpd command line (foreground, our config only, log to file)."""
    return ["snmpd", "-f", "-C", "-c", str(config), "-Lf", str(log), "-I", "-ipCidrRouteTable,inetCidrRouteTable"]
