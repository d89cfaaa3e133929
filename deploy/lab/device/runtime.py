"""Runs one device: starts each of its services on its address, marks it ready, and serves until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

from deploy.lab.device.bacnet import BacnetDevice
from deploy.lab.device.enip import EnipUdp, enip_tcp_handler
from deploy.lab.device.fragile import DEFAULT_MAX_PPS, FragileMonitor, fragile_modbus_handler
from deploy.lab.device.l2 import start_l2
from deploy.lab.device.s7 import s7_handler
from deploy.lab.device.textproto import banner_handler, http_handler, rtsp_handler, start_tcp
from deploy.lab.model import LabDevice, LabService
from deploy.lab.paths import RunDir


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Accepts and stays quiet, like a JetDirect raw-print port, until the peer leaves.
    try:
        await asyncio.wait_for(reader.read(65536), 20)
    except (TimeoutError, ConnectionError):
        pass
    writer.close()


async def _udp(ip: str, port: int, factory: Any) -> asyncio.BaseTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(factory, local_addr=(ip, port), reuse_port=True)
    return transport


class DeviceRunner:
    """Owns a device's servers so they can be closed on shutdown (or on a fragile fault)."""

    def __init__(self, device: LabDevice, run_dir: RunDir) -> None:
        self.device = device
        self.run_dir = run_dir
        self.closers: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.monitor: FragileMonitor | None = None

    async def start_service(self, svc: LabService) -> None:
        dev, ip, proto = self.device, self.device.ip, svc.protocol
        if proto in ("http", "https"):
            tls = None
            if proto == "https":
                from deploy.lab.device.certs import make_context

                tls = await asyncio.to_thread(
                    make_context,
                    svc.params["cert_subject"],
                    svc.params.get("cert_issuer"),
                    ip,
                    self.run_dir.certs,
                    f"{dev.name}-{svc.port}",
                )
            self.closers.append(await start_tcp(ip, svc.port or 80, http_handler(dev, svc), tls))
        elif proto == "rtsp":
            self.closers.append(await start_tcp(ip, svc.port or 554, rtsp_handler(svc)))
        elif proto in ("ssh", "telnet", "ftp"):
            self.closers.append(await start_tcp(ip, svc.port or 22, banner_handler(svc)))
        elif proto == "tcp-silent":
            self.closers.append(await start_tcp(ip, svc.port or 9100, _silent))
        elif proto == "s7":
            self.closers.append(await start_tcp(ip, svc.port or 102, s7_handler(svc)))
        elif proto == "enip":
            port = svc.port or 44818
            self.closers.append(await start_tcp(ip, port, enip_tcp_handler(dev, svc)))
            self.closers.append(await _udp(ip, port, lambda: EnipUdp(dev, svc)))
        elif proto == "bacnet":
            # Bound to the wildcard address so broadcast Who-Is reaches it too.
            self.closers.append(await _udp("0.0.0.0", svc.port or 47808, lambda: BacnetDevice(svc)))
        elif proto == "modbus":
            from deploy.lab.device.modbus import start_modbus

            self.closers.append(await start_modbus(dev, svc))
        elif proto == "modbus-fragile":
            assert self.monitor is not None
            self.closers.append(await start_tcp(ip, svc.port or 502, fragile_modbus_handler(svc, self.monitor)))
        elif proto == "ssdp":
            from deploy.lab.device.ssdp import start_ssdp

            transport, task = await start_ssdp(dev)
            self.closers.append(transport)
            self.tasks.append(task)
        elif proto == "mdns":
            from deploy.lab.device.mdns import start_mdns

            self.closers.append(await start_mdns(dev, svc))
        elif proto == "profinet":
            import threading

            from deploy.lab.device.profinet import serve

            stop = threading.Event()
            threading.Thread(target=serve, args=(dev, svc, "eth0", stop), name="profinet-dcp", daemon=True).start()
            self.closers.append(_Stopper(stop))
        elif proto in ("snmp", "lldp", "cdp", "dhcp"):
            pass  # snmp: a net-snmp snmpd started by the lab; lldp/cdp/dhcp: the scapy thread below
        else:
            raise ValueError(f"{dev.name}: no emulation for protocol {proto!r}")

    def close_all(self) -> None:
        for task in self.tasks:
            task.cancel()
        for closer in self.closers:
            if hasattr(closer, "async_close"):
                asyncio.ensure_future(closer.async_close())
            elif hasattr(closer, "shutdown") and not hasattr(closer, "sockets"):
                asyncio.ensure_future(closer.shutdown())
            else:
                closer.close()
        self.closers.clear()


class _Stopper:
    """A thread's stop event with the close() the runner calls on every service at the end."""

    def __init__(self, event: Any) -> None:
        self.event = event

    def close(self) -> None:
        self.event.set()


async def run_device(device: LabDevice, run_dir: RunDir) -> None:
    """Start every service, write the readiness mark, then serve until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = DeviceRunner(device, run_dir)
    if device.fragile:
        svc = next(s for s in device.services if s.protocol == "modbus-fragile")
        runner.monitor = FragileMonitor(
            device, int(svc.params.get("max_packets_per_second", DEFAULT_MAX_PPS)), run_dir.fault_file(device.name)
        )
        runner.monitor.on_fault.append(runner.close_all)
        runner.monitor.start()
    await asyncio.gather(*(runner.start_service(s) for s in device.services))
    l2_stop = start_l2(device)
    run_dir.ready_file(device.name).write_text(f"{socket.gethostname()}\n")
    print(f"{device.name}: ready ({', '.join(device.protocols())})", flush=True)
    await stop.wait()
    if l2_stop is not None:
        l2_stop.set()
    runner.close_all()
    await asyncio.sleep(0)
