"""Modbus TCP with pymodbus: device identification (0x2B/0x0E) and string holding registers where declared."""

from __future__ import annotations

from typing import Any

from deploy.lab.model import LabDevice, LabService


def _string_registers(text: str) -> list[int]:
    raw = text.encode("ascii")
    raw += b"\0" * (len(raw) % 2)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


async def start_modbus(device: LabDevice, svc: LabService) -> Any:
    """Start a pymodbus TCP server on the device's address; returns the server (call `shutdown()` to stop)."""
    from pymodbus import ModbusDeviceIdentification
    from pymodbus.datastore import (
        ModbusDeviceContext,
        ModbusSequentialDataBlock,
        ModbusServerContext,
    )
    from pymodbus.server import ModbusTcpServer

    p = svc.params
    registers: dict[int, int] = {}
    for start, text in p.get("string_registers", {}).items():
        for offset, value in enumerate(_string_registers(text)):
            registers[int(start) + offset] = value
    if registers:
        # One contiguous block over the declared range; pymodbus's block address is the protocol address + 1.
        low, high = min(registers), max(registers)
        holding = ModbusSequentialDataBlock(low + 1, [registers.get(a, 0) for a in range(low, high + 1)])  # type: ignore[no-untyped-call]
    else:
        holding = ModbusSequentialDataBlock(1, [0] * 100)  # type: ignore[no-untyped-call]
    store = ModbusDeviceContext(hr=holding, ir=ModbusSequentialDataBlock(1, [0] * 100))  # type: ignore[no-untyped-call]
    identity = ModbusDeviceIdentification(  # type: ignore[no-untyped-call]
        info_name={
            "VendorName": p["vendor_name"],
            "ProductCode": p["product_code"],
            "MajorMinorRevision": p["revision"],
            "VendorUrl": p.get("vendor_url", ""),
            "ProductName": p.get("product_name", ""),
            "ModelName": p.get("model_name", ""),
        }
    )
    server = ModbusTcpServer(
        ModbusServerContext(devices=store, single=True), identity=identity, address=(device.ip, svc.port or 502)
    )
    await server.serve_forever(background=True)
    return server
