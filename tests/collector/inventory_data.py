"""A small, known inventory over two months and two sectors, loaded through the real ingest API.

Water board (sector water): six devices last month; this month five of them again plus a new Dahua camera, and the
Huawei router is gone. Energy company (sector energie): three new devices this month, one from a vendor whose name
is an HTML injection attempt. One Hikvision camera carries a collector-style evidence chain; the Siemens PLC has a
re-attribution record ("no longer flagged") inside this month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from collector.inventory import Period, current_period
from collector.models import Device, Identification, IdentificationChange
from tests.conftest import World, make_world
from tests.factories import report_doc

EVIL_VENDOR = '<script>alert("x")</script>'
WATER = "Waterschap Testland"
ENERGY = "Energienet Oost"


@dataclass
class InventoryWorld:
    water: World
    energy: World
    period: Period
    previous: Period
    hikvision_id: int
    evil_id: int


def hint(doc: dict, n: int, vendor_id: str, vendor: str, country: str, flagged: bool) -> None:
    doc["devices"][n]["identification"] = {"vendor_id": vendor_id, "vendor": vendor, "country": country,
                                           "owner_country": country, "flagged": flagged, "confidence": 0.9}


def load(client, engine: Engine, water: World | None = None) -> InventoryWorld:
    water = water or make_world(engine, WATER, "water")
    energy = make_world(engine, ENERGY, "energie")
    period = current_period().previous()
    previous = period.previous()
    t_prev, t_cur = previous.start + timedelta(days=14), period.start + timedelta(days=14)

    a = report_doc(water.agent_id, devices=6, observations=3, seen_at=t_prev)
    hint(a, 0, "hikvision", "Hikvision", "CN", True)
    hint(a, 1, "huawei", "Huawei", "CN", True)
    hint(a, 2, "siemens", "Siemens", "DE", False)
    b = report_doc(water.agent_id, devices=7, observations=3, seen_at=t_cur)
    hint(b, 0, "hikvision", "Hikvision", "CN", True)
    hint(b, 2, "siemens", "Siemens", "DE", False)
    hint(b, 6, "dahua", "Dahua", "CN", True)
    del b["devices"][1]
    e = report_doc(energy.agent_id, devices=3, observations=2, seen_at=t_cur, mac_base=0x00_1B_1B_00_00_00)
    hint(e, 0, "evil", EVIL_VENDOR, "RU", True)
    hint(e, 1, "abb", "ABB", "CH", False)
    for doc, w in ((a, water), (b, water), (e, energy)):
        r = client.post("/api/v1/reports", json=doc, headers=w.agent_headers())
        assert r.status_code == 201, r.text

    with Session(engine) as session:
        ident = {i.vendor_id: i for i in session.exec(select(Identification)).all()}
        hik, siemens, evil = ident["hikvision"], ident["siemens"], ident["evil"]
        session.execute(update(Identification).where(Identification.id == hik.id).values(  # type: ignore[arg-type]
            origin="collector", category="camera", catalogue_version="2026.11.1", policy_version="2026.1",
            detail={"flag_reasons": ["headquarters in China (CN), on the policy list"],
                    "evidence": [
                        {"kind": "http.server", "value": "App-webs/", "rule_id": "http.server.app-webs",
                         "conclusion": "vendor hikvision", "weight": 0.8},
                        {"kind": "tls.subject", "value": "CN=cam1.waterschap-testland.nl,O=Hikvision",
                         "rule_id": "tls.subject.o", "conclusion": "vendor hikvision", "weight": 0.6},
                    ],
                    "conflicts": [{"vendor": "Ezviz", "note": "white-label brand of the same maker"}]},
        ))
        session.add(IdentificationChange(
            device_id=siemens.device_id, at=t_cur + timedelta(days=1), change="unflagged", old_vendor_id="siemens",
            new_vendor_id="siemens", old_flagged=True, new_flagged=False, catalogue_version="2026.11.1",
            policy_version="2026.1",
        ))
        session.commit()
        assert session.get(Device, hik.device_id) is not None
        return InventoryWorld(water, energy, period, previous, hik.device_id, evil.device_id)


def now() -> datetime:
    return datetime.now(UTC)
