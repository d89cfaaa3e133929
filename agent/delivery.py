"""Talking to the collector: enrolment and report delivery over httpx, with TLS verification always on.

The network is a seam: pass an `httpx.BaseTransport` (e.g. `httpx.MockTransport`) to test error paths. httpx
and
ssl errors are translated into agent.errors here and nowhere else.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agent import __version__
from agent.errors import (
    ConfigError,
    DeliveryError,
    RejectedError,
    TlsError,
    TransientDeliveryError,
)
from agent.spool import Spool, SpooledReport

log = logging.getLogger(__name__)


def _verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """Verification is never off: the system store, or only the pinned CA when one is given."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the pinned CA file {ca_file}: {exc}; pass a PEM bundle with --ca") from exc


def _error_detail(response: httpx.Response) -> tuple[str, str]:
    try:
        err = response.json().get("error", {})
        return str(err.get("reason") or f"http_{response.status_code}"), str(err.get("message") or response.text[:200])
    except (ValueError, AttributeError):
        return f"http_{response.status_code}", response.text[:200]


#: The longest Retry-After the agent honours; a longer one is capped (the spool keeps the report meanwhile).
MAX_RETRY_AFTER = 3600.0


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a 503/429 answer asks the agent to wait (Retry-After as seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, min((when - datetime.now(UTC)).total_seconds(), MAX_RETRY_AFTER))


@dataclass
class CollectorClient:
    """A client for one collector."""

    base_url: str
    agent_key: str | None = None
    ca_file: Path | None = None
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"User-Agent": f"herkomst-agent/{__version__}"}
            if self.agent_key:
                headers["Authorization"] = f"Bearer {self.agent_key}"
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/"),
                verify=_verify(self.ca_file),
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                headers=headers,
                transport=self.transport,
                follow_redirects=False,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http().post(path, **kwargs)
        except httpx.ConnectError as exc:
            cause = exc.__context__ or exc.__cause__
            text = str(exc)
            if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
                raise TlsError(
                    f"the collector's certificate did not verify ({text}); check --ca (the pinned CA) and the URL"
                ) from exc
            raise TransientDeliveryError(f"cannot reach the collector at {self.base_url}: {text}") from exc
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"the collector at {self.base_url} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"network error talking to {self.base_url}: {exc}") from exc

    def enroll(self, token: str, hostname: str) -> dict[str, Any]:
        """Exchange an enrolment token for an agent id and key."""
        response = self._post(
            "/api/v1/enroll", json={"enrollment_token": token, "hostname": hostname, "version": __version__}
        )
        if response.status_code in (200, 201):
            data: dict[str, Any] = response.json()
            if "agent_id" not in data or "agent_key" not in data:
                raise DeliveryError("the collector's enrolment answer lacks agent_id/agent_key", status=201)
            return data
        reason, message = _error_detail(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientDeliveryError(f"enrolment failed ({response.status_code} {reason}): {message}; try again")
        raise RejectedError(
            f"enrolment refused ({response.status_code} {reason}): {message}; ask for a fresh token",
            status=response.status_code,
            code=reason,
        )

    def send(self, data: bytes) -> dict[str, Any]:
        """Send one report document (its exact bytes, gzipped); return the receipt or raise."""
        response = self._post(
            "/api/v1/reports",
            content=gzip.compress(data, compresslevel=6),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        return self._answer(response, "report")

    def heartbeat(self, data: bytes) -> dict[str, Any]:
        """Send one heartbeat document; return the collector's answer (with the proposal in force) or raise."""
        response = self._post("/api/v1/agents/heartbeat", content=data, headers={"Content-Type": "application/json"})
        return self._answer(response, "heartbeat")

    def _answer(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code in (200, 201):
            try:
                receipt: dict[str, Any] = response.json()
            except ValueError:
                receipt = {}
            return receipt
        reason, message = _error_detail(response)
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientDeliveryError(
                f"collector answered {response.status_code} ({reason}): {message}",
                status=response.status_code, code=reason, retry_after=retry_after(response),
            )
        if response.status_code == 401:
            message += "; the agent key was refused: enroll this agent again"
        raise RejectedError(
            f"collector refused the {what} ({response.status_code} {reason}): {message}",
            status=response.status_code,
            code=reason,
        )


@dataclass
class FlushResult:
    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    last_error: DeliveryError | None = None


def backoff_delays(attempts: int, base: float = 1.0, cap: float = 300.0) -> list[float]:
    """Exponential backoff with full jitter: attempt k waits uniform(0, min(cap, base * 2**k))."""
    return [random.uniform(0, min(cap, base * 2**k)) for k in range(max(0, attempts - 1))]


def deliver_one(
    client: CollectorClient,
    spool: Spool,
    item: SpooledReport,
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Deliver one spooled report, retrying transient failures; remove it only after a receipt."""
    delays = backoff_delays(attempts, base_delay)
    data = item.read()
    for attempt in range(attempts):
        try:
            receipt = client.send(data)
        except RejectedError as exc:
            spool.reject(item, exc.status, exc.code or exc.reason, str(exc))
            raise RejectedError(
                f"{exc}. The report was kept in {spool.rejected_dir}/{item.path.name}",
                status=exc.status,
                code=exc.code,
            ) from exc
        except TlsError:
            raise
        except TransientDeliveryError as exc:
            if attempt == len(delays):
                raise
            delay = delays[attempt]
            if exc.retry_after is not None:
                # The collector said when: wait that long, jittered upwards so that agents told the same
                # moment do not all come back at once.
                delay = max(delay, exc.retry_after * random.uniform(1.0, 1.5))
            log.info("delivery of %s failed (%s); retrying in %.1fs", item.report_id, exc, delay)
            sleep(delay)
            continue
        spool.delivered(item)
        return receipt
    raise AssertionError("unreachable")


def flush(
    client: CollectorClient,
    spool: Spool,
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FlushResult:
    """Deliver every pending report, oldest first; stop at the first transient failure (the collector is
    down)."""
    result = FlushResult()
    for item in spool.pending():
        try:
            receipt = deliver_one(client, spool, item, attempts=attempts, base_delay=base_delay, sleep=sleep)
        except RejectedError as exc:
            result.rejected.append((str(item.report_id), str(exc)))
            result.last_error = exc
            continue
        except DeliveryError as exc:
            result.last_error = exc
            break
        result.delivered.append((str(item.report_id), receipt))
    result.pending = len(spool.pending())
    return result


def receipt_text(receipt: dict[str, Any]) -> str:
    """One line describing a receipt."""
    devices = receipt.get("devices", {})
    dup = " (already stored: duplicate)" if receipt.get("duplicate") else ""
    return f"report {receipt.get('report_id', '?')} received{dup}; devices {json.dumps(devices)}"
