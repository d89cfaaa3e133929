"""Many agents and analysts at the same moment, against a collector process over real sockets.

Shared by the load test (tests/collector/test_load.py) and the benchmark (bench/bench_load.py):

    agents = enrol_agents(engine, 200)                         # straight into the database, as the admin CLI does
    results = asyncio.run(submit_all(url, agents, devices=1))   # every agent posts one report at once
    reads = asyncio.run(read_all(url, analyst_token, 100))      # 100 analyst reads at once

Each agent behaves as the real one does: it sends its report, and on 503/429 waits what Retry-After says (with
jitter) and sends the same bytes again, up to a deadline. Every answer is recorded, so that a caller can assert that
none was a 5xx other than 503 and that every report ended with a receipt.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector import admin
from tests.factories import report_doc


@dataclass(frozen=True)
class EnrolledAgent:
    agent_id: str
    key: str
    organisation_id: int


def enrol_agents(engine: Engine, count: int, *, organisations: int = 20) -> list[EnrolledAgent]:
    """`count` agents spread over `organisations` organisations (one site each), enrolled in the database."""
    out: list[EnrolledAgent] = []
    tag = uuid.uuid4().hex[:6]
    with Session(engine) as session:
        tokens: list[tuple[int, str]] = []
        for n in range(min(organisations, count)):
            org = admin.create_organisation(session, name=f"Load {tag} {n}", sector="water")
            assert org.id is not None
            _row, token = admin.create_enrollment_token(
                session, organisation_id=org.id, site="plant", expires_in=timedelta(hours=1), max_uses=count
            )
            tokens.append((org.id, token))
        for n in range(count):
            org_id, token = tokens[n % len(tokens)]
            agent, key = admin.enroll_agent(session, token=token, hostname=f"agent-{n}", version="load")
            out.append(EnrolledAgent(agent.id, key, org_id))
        session.commit()
    return out


@dataclass
class Submission:
    """One agent's delivery of one report: every status it was answered, and the final receipt."""

    agent: EnrolledAgent
    report_id: str
    devices: int
    statuses: list[int] = field(default_factory=list)
    receipt: dict[str, Any] | None = None
    seconds: float = 0.0  # from the first attempt to the receipt (or giving up)

    @property
    def stored(self) -> bool:
        return self.receipt is not None


def report_body(agent: EnrolledAgent, *, devices: int, report_id: str | None = None, mac_seed: int = 0) -> bytes:
    """A gzipped report of `devices` devices whose MACs are this agent's own."""
    doc = report_doc(agent.agent_id, devices=devices, observations=4, report_id=report_id,
                     mac_base=0x02_00_00_00_00_00 + (mac_seed << 16))
    return gzip.compress(json.dumps(doc).encode(), compresslevel=1)


async def deliver(
    client: httpx.AsyncClient, agent: EnrolledAgent, body: bytes, report_id: str, devices: int, *,
    deadline: float, start: asyncio.Event | None = None,
) -> Submission:
    """POST one report as an agent does: retry on 503/429 after Retry-After (jittered), until the deadline."""
    result = Submission(agent, report_id, devices)
    headers = {"Authorization": f"Bearer {agent.key}", "Content-Encoding": "gzip",
               "Content-Type": "application/json"}
    if start is not None:
        await start.wait()
    began = time.perf_counter()
    while True:
        try:
            response = await client.post("/api/v1/reports", content=body, headers=headers)
        except httpx.TransportError:
            result.statuses.append(0)
            wait = 1.0
        else:
            result.statuses.append(response.status_code)
            if response.status_code in (200, 201):
                result.receipt = response.json()
                break
            if response.status_code not in (429, 503):
                break
            wait = float(response.headers.get("retry-after", "1"))
        if time.monotonic() + wait > deadline:
            break
        await asyncio.sleep(wait * random.uniform(0.5, 1.5))
    result.seconds = time.perf_counter() - began
    return result


async def submit_all(
    base_url: str, agents: list[EnrolledAgent], *, devices: int = 1, patience: float = 300.0,
    same_report: bool = False,
) -> list[Submission]:
    """Every agent submits one report at the same moment (or, with same_report, the first agent sends one report
    once per entry of `agents`, all at once)."""
    bodies = []
    for n, agent in enumerate(agents):
        sender = agents[0] if same_report else agent
        rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sender.agent_id}/{'copy' if same_report else n}"))
        if same_report and bodies:
            bodies.append((sender, bodies[0][1], rid))
        else:
            bodies.append((sender, report_body(sender, devices=devices, report_id=rid, mac_seed=n), rid))
    limits = httpx.Limits(max_connections=len(agents) + 10, max_keepalive_connections=len(agents) + 10)
    deadline = time.monotonic() + patience
    start = asyncio.Event()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(120.0)) as client:
        tasks = [asyncio.create_task(deliver(client, a, body, rid, devices, deadline=deadline, start=start))
                 for a, body, rid in bodies]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


@dataclass
class Read:
    path: str
    status: int
    seconds: float


ANALYST_PATHS = ("/api/v1/devices?limit=100", "/api/v1/summary", "/api/v1/reports?limit=50",
                 "/api/v1/devices?flagged=true&limit=20", "/api/v1/organisations",
                 "/api/v1/changes?since=2020-01-01T00:00:00Z&limit=20")


async def read_all(base_url: str, token: str, count: int) -> list[Read]:
    """`count` analyst reads at the same moment, over the routes analysts use most."""
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    start = asyncio.Event()

    async def one(client: httpx.AsyncClient, path: str) -> Read:
        await start.wait()
        began = time.perf_counter()
        try:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            status = response.status_code
        except httpx.TransportError:
            status = 0
        return Read(path, status, time.perf_counter() - began)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(120.0)) as client:
        tasks = [asyncio.create_task(one(client, ANALYST_PATHS[n % len(ANALYST_PATHS)])) for n in range(count)]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of `values`, nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
