"""The agent's one exception tree; foreign errors (scapy, nmap, httpx, OS) are translated into it at the
boundary.

    AgentError                      every failure the operator may meet; `str()` says what to do next
    ├── ConfigError                 invalid or unsafe settings (no scope, verify off, rates out of range …)
    │   └── ScopeError              a target outside the scope, a scope too large, an unparsable CIDR
    ├── NotEnrolledError            no agent key in the state directory yet
    ├── ScanError                   a scan step that could not run
    │   ├── PermissionDeniedError   raw sockets need root or CAP_NET_RAW
    │   ├── NmapMissingError        the nmap binary is not installed
    │   └── InterfaceError          the interface went away or has no address in scope
    ├── SpoolError                  the report could not be written durably (disk full, read-only …)
    └── DeliveryError               the collector did not take the report
        ├── TransientDeliveryError  retry later: collector down, timeout, 5xx, 429
        ├── TlsError                the certificate did not verify (wrong CA pin, wrong host)
        └── RejectedError           a permanent 4xx answer (409 conflict included); the report is kept in
        rejected/

Each class carries a short machine `reason` so logs and `status` can say which kind of failure happened.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent reports to its operator."""

    reason = "agent_error"


class ConfigError(AgentError):
    reason = "config"


class ScopeError(ConfigError):
    reason = "scope"


class NotEnrolledError(AgentError):
    reason = "not_enrolled"


class ScanError(AgentError):
    reason = "scan"


class PermissionDeniedError(ScanError):
    reason = "permission"


class NmapMissingError(ScanError):
    reason = "nmap_missing"


class InterfaceError(ScanError):
    reason = "interface"


class SpoolError(AgentError):
    reason = "spool"


class DeliveryError(AgentError):
    reason = "delivery"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransientDeliveryError(DeliveryError):
    """Worth trying again later; `retry_after` is the wait the collector asked for (503/429 Retry-After)."""

    reason = "transient"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class TlsError(DeliveryError):
    reason = "tls"


class RejectedError(DeliveryError):
    reason = "rejected"
