"""Prometheus metrics of one collector process: ingest counts and latencies, refusals by reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector.errors import BUSY_REASONS


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reports = Counter("herkomst_reports_total", "Reports accepted, by result", ["result"], registry=r)
        self.devices = Counter("herkomst_devices_stored_total", "Devices stored, by new/updated", ["state"], registry=r)
        self.observations = Counter(
            "herkomst_observations_stored_total", "Observations stored, by new/updated", ["state"], registry=r
        )
        self.ingest_seconds = Histogram(
            "herkomst_ingest_seconds", "Time to decode, validate and store one report", registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.rejected = Counter(
            "herkomst_rejected_requests_total", "Refused requests, by reason", ["reason"], registry=r
        )
        self.enrolments = Counter("herkomst_enrolments_total", "Agents enrolled", registry=r)
        self.busy = Counter(
            "herkomst_busy_answers_total", "Requests answered 503 because the collector was busy, by reason",
            ["reason"], registry=r,
        )
        self.ingest_waiting = Gauge("herkomst_ingest_waiting", "Reports waiting for their turn to be stored",
                                    registry=r)
        self.ingest_running = Gauge("herkomst_ingest_running", "Reports being decoded and stored", registry=r)
        # Fleet gauges are counted from the database at each scrape, so every replica reports the same figure.
        self.agents = Gauge("herkomst_agents", "Enrolled agents whose key is not revoked", registry=r)
        self.agents_silent = Gauge(
            "herkomst_agents_silent",
            "Unrevoked agents not heard from for two of their periods (see GET /api/v1/agents)", registry=r)

    def count_refusal(self, reason: str) -> None:
        """Count one refused request; the 503s of a busy collector are counted apart as well."""
        self.rejected.labels(reason).inc()
        if reason in BUSY_REASONS:
            self.busy.labels(reason).inc()
