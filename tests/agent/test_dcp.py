"""PROFINET DCP: the agent's parser (agent/discovery/dcp.py) against frames the lab's PROFINET device writes with its
own, independent encoder (deploy/lab/device/profinet.py), the Identify request it sends, and malformed frames."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from agent.discovery import dcp
from agent.discovery.capture import announces
from deploy.lab.device import profinet as lab_profinet
from deploy.lab.model import LabDevice, LabService

DEVICE = LabDevice(name="et200sp", vendor="Siemens", model="ET 200SP", category="remote-io",
                   mac="28:63:36:5a:0e:17", mac_registrant="Siemens AG", ip="198.18.0.70", segment="it",
                   country="DE", owner_country="DE", flagged=False, services=())
SERVICE = LabService(protocol="profinet", port=None, transport="l2", params={
    "station_name": "et200sp-hvac-1", "vendor_value": "ET200SP", "vendor_id": 0x002A, "device_id": 0x0313,
    "roles": ["io-device"], "gateway": "198.18.0.254"})
AGENT_MAC = bytes.fromhex("02484b00000a")


def test_an_identify_response_names_vendor_device_type_station_role_and_ip() -> None:
    frame = lab_profinet.identify_response(DEVICE, SERVICE, AGENT_MAC, xid=0x1234)
    ident = dcp.parse(frame)
    assert ident is not None and ident.frame_id == dcp.FRAME_IDENTIFY_RESPONSE
    assert (ident.mac, ident.vendor_id, ident.device_id) == ("28:63:36:5a:0e:17", 0x002A, 0x0313)
    assert ident.device_id_value == "0x002a:0x0313"
    assert (ident.vendor_value, ident.station_name, ident.roles) == ("ET200SP", "et200sp-hvac-1", ["IO-Device"])
    assert (ident.ip, ident.netmask, ident.gateway) == ("198.18.0.70", "255.255.255.0", "198.18.0.254")


def test_a_hello_is_read_like_a_response_and_an_802_1q_tag_is_skipped() -> None:
    frame = lab_profinet.hello(DEVICE, SERVICE)
    tagged = frame[:12] + struct.pack("!HH", 0x8100, 0xC000) + frame[12:]  # priority 6, VLAN 0, as PROFINET tags
    for raw in (frame, tagged):
        ident = dcp.parse(raw)
        assert ident is not None and ident.frame_id == dcp.FRAME_HELLO and ident.station_name == "et200sp-hvac-1"


def test_the_identify_request_asks_all_devices_read_only_in_one_minimum_size_frame() -> None:
    frame = dcp.identify_request("02:48:4b:00:00:0a", xid=7)
    assert len(frame) == 60
    assert frame[:6] == bytes.fromhex("010ecf000000") and frame[6:12] == AGENT_MAC
    frame_id, service, service_type, xid, delay, length = struct.unpack("!HBBIHH", frame[14:26])
    assert (frame_id, service, service_type, xid) == (0xFEFE, 0x05, 0x00, 7)  # Identify request: never Set or Get
    assert delay == dcp.RESPONSE_DELAY_FACTOR and frame[26:26 + length] == bytes([0xFF, 0xFF, 0, 0])
    assert dcp.parse(frame) is None  # a request describes no device
    # the lab device answers it, and only it
    assert lab_profinet._asks_for_me(frame[26:26 + length], "et200sp-hvac-1")


@pytest.mark.parametrize("cut", [14, 20, 25, 30, 40, 60])
def test_truncated_frames_are_ignored_not_raised(cut: int) -> None:
    frame = lab_profinet.identify_response(DEVICE, SERVICE, AGENT_MAC, xid=1)
    assert dcp.parse(frame[:cut]) is None or dcp.parse(frame[:cut]).vendor_id is None  # type: ignore[union-attr]


def test_wrong_lengths_and_oversized_blocks_end_parsing_without_an_exception() -> None:
    frame = bytearray(lab_profinet.identify_response(DEVICE, SERVICE, AGENT_MAC, xid=1))
    claims_more = bytes(frame[:24]) + struct.pack("!H", 1400) + bytes(frame[26:])
    assert dcp.parse(claims_more) is None  # the header claims more data than the frame has
    first_block = 26
    overrun = bytearray(frame)
    overrun[first_block + 2:first_block + 4] = struct.pack("!H", 0xFFF0)  # a block longer than the frame
    ident = dcp.parse(bytes(overrun))
    assert ident is not None and ident.vendor_id is None  # nothing is read past the broken block
    many = bytes(frame[:24]) + struct.pack("!H", 4 * 2000) + bytes([0x02, 0x07, 0, 0]) * 2000
    assert dcp.parse(many) is not None  # bounded: stops after MAX_BLOCKS


def test_other_profinet_frames_are_not_identities_and_skipped_on_their_bytes() -> None:
    response = lab_profinet.identify_response(DEVICE, SERVICE, AGENT_MAC, xid=1)
    cyclic = response[:14] + struct.pack("!H", 0x8001) + bytes(40)  # cyclic RT I/O data: thousands per second
    assert dcp.parse(cyclic) is None
    assert announces(response) and announces(lab_profinet.hello(DEVICE, SERVICE))
    assert not announces(cyclic)


FRAMES = json.loads((Path(__file__).parent / "data" / "dcp_frames.json").read_text(encoding="utf-8"))["frames"]


@pytest.mark.parametrize("frame", FRAMES, ids=[f["id"] for f in FRAMES])
def test_frames_of_real_profinet_devices_and_tools(frame: dict[str, Any]) -> None:
    """Siemens CPUs, remote I/O and switches answering Identify, and engineering tools' requests and Set frames,
    as their bytes were published (tests/agent/data/dcp_frames.json has the provenance of each)."""
    ident = dcp.parse(bytes.fromhex(frame["hex"]))
    want = frame["expect"]
    if want is None:  # a request or a Set: it describes no device (and the agent never sends Set)
        assert ident is None
        assert not announces(bytes.fromhex(frame["hex"])) or frame["frame_type"].startswith("identify_request")
        return
    assert ident is not None
    assert ident.mac == want["mac"] and ident.device_id_value == f"{want['vendor_id']}:{want['device_id']}"
    assert (ident.vendor_value, ident.station_name) == (want["vendor_value"], want["station_name"])
    assert (ident.ip, ident.netmask, ident.gateway) == (want["ip"], want["netmask"], want["gateway"])
    assert announces(bytes.fromhex(frame["hex"]))  # a SPAN capture's reader keeps it
