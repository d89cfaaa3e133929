"""ARP sweep with scapy over the on-link part of the scope, paced by the rate limiter (one request per
address)."""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Sequence

from agent.errors import InterfaceError, PermissionDeniedError, ScanError
from agent.ratelimit import RateLimiter

log = logging.getLogger(__name__)


def translate_os_error(exc: OSError, iface: str) -> ScanError:
    """Raw-socket OS errors as the agent's errors."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return PermissionDeniedError(
            "discovery and listening need raw sockets: run the agent as root, or under the systemd unit "
            "deploy/systemd/herkomst-agent.service, which keeps exactly CAP_NET_RAW and CAP_NET_ADMIN"
        )
    if exc.errno in (errno.ENODEV, errno.ENXIO, errno.ENETDOWN):
        return InterfaceError(f"interface {iface} went away or is down ({exc.strerror}); check `ip link`")
    return ScanError(f"raw socket error on {iface}: {exc}")


def arp_sweep(
    iface: str,
    targets: Sequence[str],
    limiter: RateLimiter,
    *,
    wait: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """Ask every target for its MAC once; return ip -> mac of those that answered (and only those targets)."""
    from scapy.arch import get_if_hwaddr
    from scapy.config import conf
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import AsyncSniffer

    wanted = set(targets)
    answers: dict[str, str] = {}

    def on_packet(pkt: object) -> None:
        arp = pkt.getlayer(ARP)  # type: ignore[attr-defined]
        if arp is not None and arp.op == 2 and arp.psrc in wanted:
            answers.setdefault(arp.psrc, arp.hwsrc)

    try:
        own_mac = get_if_hwaddr(iface)
        sniffer = AsyncSniffer(iface=iface, filter="arp", prn=on_packet, store=False)
        sniffer.start()
        time.sleep(0.2)  # the capture socket must be listening before the first request leaves
        sock = conf.L2socket(iface=iface)
    except OSError as exc:
        raise translate_os_error(exc, iface) from exc
    try:
        for count, ip in enumerate(targets, start=1):
            limiter.acquire(ip, 1)
            sock.send(Ether(dst="ff:ff:ff:ff:ff:ff", src=own_mac) / ARP(op=1, hwsrc=own_mac, pdst=ip))
            if progress is not None:
                progress(count)
        time.sleep(wait)
    except OSError as exc:
        raise translate_os_error(exc, iface) from exc
    finally:
        sock.close()
        try:
            sniffer.stop()
        except Exception:  # noqa: BLE001 - the sniffer may already have died with its interface
            pass
    return answers
