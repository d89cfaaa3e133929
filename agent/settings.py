"""Agent settings: a TOML file plus HERKOMST_AGENT_* environment variables (environment wins), validated at
start.

Unsafe settings are refused rather than tolerated: rates above the hard ceiling, a per-host rate above the
global
one, or a collector URL over plain HTTP unless the operator explicitly allows it (lab and demo only).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agent.errors import ConfigError

Profile = Literal["passive", "safe", "standard"]

DEFAULT_CONFIG = Path("/etc/herkomst/agent.toml")
#: Above this the agent stops being a polite guest on an OT network, whatever the operator asks.
RATE_CEILING = 10_000.0


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/herkomst-agent")
    return Path.home() / ".local" / "state" / "herkomst-agent"


class SnmpV3Credential(BaseModel):
    """One SNMPv3 user the agent may ask as (authPriv only: authenticated and encrypted). Kept in the agent's own
    configuration file, which must not be readable by others; the keys are never logged, reported or shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, max_length=32)
    auth_protocol: Literal["SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"] = "SHA-256"
    auth_key: SecretStr = Field(min_length=8, description="at least 8 characters (RFC 3414)")
    priv_protocol: Literal["AES", "AES-192", "AES-256"] = "AES"
    priv_key: SecretStr = Field(min_length=8)


class AgentSettings(BaseSettings):
    """Everything the agent can be told; see the field descriptions for the TOML keys."""

    model_config = SettingsConfigDict(env_prefix="HERKOMST_AGENT_", extra="forbid", env_nested_delimiter="__")

    state_dir: Path = Field(default_factory=_default_state_dir, description="agent key, spool, status")
    collector_url: str | None = None
    ca_file: Path | None = Field(default=None, description="pinned CA bundle for the collector's certificate")
    allow_plain_http: bool = Field(default=False, description="permit http:// collector URLs (lab only)")
    scope: list[str] = Field(default_factory=list, description="CIDRs to scan; there is no default")
    exclude: list[str] = Field(default_factory=list)
    profile: Profile = "safe"
    max_rate: float = Field(default=100.0, gt=0, description="packets/s overall")
    max_host_rate: float = Field(default=10.0, gt=0, description="packets/s to any one host")
    max_hosts: int = Field(default=65_536, gt=0, description="refuse scopes with more addresses than this")
    passive_window: float = Field(default=10.0, ge=0, description="seconds of passive listening")
    profinet_identify: bool = Field(
        default=True,
        description="in the active profiles, send one PROFINET DCP Identify request on each interface whose whole "
        "subnet is in scope (read-only; PROFINET field devices answer with their vendor, type and station name)",
    )
    interface: str | None = None
    probe_timeout: float = Field(default=2.0, gt=0, le=60)
    snmp_communities: list[str] = Field(default_factory=lambda: ["public"])
    snmp_v3: list[SnmpV3Credential] = Field(
        default_factory=list, description="SNMPv3 authPriv users, tried after the v2c communities; the config file "
        "that holds them must be mode 0600")
    modbus_unit_ids: list[int] = Field(default_factory=lambda: [1])
    nmap_os: bool = False
    nmap_version_intensity: int = Field(default=3, ge=0, le=9)
    nmap_host_timeout: int = Field(default=120, gt=0, description="seconds per host for nmap")
    interval: float = Field(default=86_400.0, gt=0, description="seconds between unattended scans")
    heartbeat: float = Field(
        default=900.0, ge=0, description="seconds between status heartbeats to the collector while `run` waits for "
        "the next scan (0: none; the collector then counts the agent silent after two scan intervals)")
    allowed_scope: list[str] = Field(
        default_factory=list, description="the ceiling for scopes the collector may propose: CIDRs a proposed "
        "network must lie within (default: `scope` itself, so a proposal can only narrow it)")
    allowed_profile: Profile | None = Field(
        default=None, description="the highest profile the collector may propose (default: `profile`)")
    min_interval: float | None = Field(
        default=None, gt=0, description="the shortest interval the collector may propose (default: `interval`)")
    pseudonymise_key_file: Path | None = Field(default=None, description="HMAC key; the key stays with you")
    delivery_attempts: int = Field(default=4, ge=1, le=100)
    delivery_timeout: float = Field(default=30.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = Path(os.environ.get("HERKOMST_AGENT_CONFIG", str(DEFAULT_CONFIG)))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    @field_validator("max_rate", "max_host_rate")
    @classmethod
    def _ceiling(cls, value: float) -> float:
        if value > RATE_CEILING:
            raise ValueError(f"rate {value} exceeds the agent's ceiling of {RATE_CEILING} packets/s")
        return value

    @field_validator("modbus_unit_ids")
    @classmethod
    def _units(cls, value: list[int]) -> list[int]:
        if any(not 0 <= unit <= 255 for unit in value):
            raise ValueError("Modbus unit ids are 0..255")
        return value

    @field_validator("allowed_scope")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for part in (p.strip() for v in value for p in v.split(",")):
            if part:
                try:
                    ipaddress.ip_network(part, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{part!r} is not a CIDR") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AgentSettings:
        if self.max_host_rate > self.max_rate:
            raise ValueError("max_host_rate may not exceed max_rate")
        if self.collector_url is not None:
            check_collector_url(self.collector_url, allow_plain_http=self.allow_plain_http)
        return self


def check_collector_url(url: str, *, allow_plain_http: bool) -> str:
    """Refuse collector URLs that are not https (unless plain http is explicitly allowed)."""
    if url.startswith("https://"):
        return url.rstrip("/")
    if url.startswith("http://"):
        if allow_plain_http:
            return url.rstrip("/")
        raise ValueError(
            f"collector URL {url!r} is plain http; use https (with --ca for a private CA), or set "
            "HERKOMST_AGENT_ALLOW_PLAIN_HTTP=1 for a lab"
        )
    raise ValueError(f"collector URL {url!r} must start with https://")


def load_settings(config_file: Path | None = None, **overrides: Any) -> AgentSettings:
    """Load settings from the TOML file, the environment and explicit overrides; raise ConfigError when
    invalid."""
    previous = os.environ.get("HERKOMST_AGENT_CONFIG")
    try:
        if config_file is not None:
            if not config_file.is_file():
                raise ConfigError(f"configuration file {config_file} does not exist")
            os.environ["HERKOMST_AGENT_CONFIG"] = str(config_file)
        clean = {key: value for key, value in overrides.items() if value is not None}
        settings = AgentSettings(**clean)
        if settings.snmp_v3:
            _check_secret_file(Path(os.environ.get("HERKOMST_AGENT_CONFIG", str(DEFAULT_CONFIG))))
        return settings
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid agent settings: {problems}") from exc
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop("HERKOMST_AGENT_CONFIG", None)
            else:
                os.environ["HERKOMST_AGENT_CONFIG"] = previous


def _check_secret_file(config: Path) -> None:
    """SNMPv3 keys may live only in the agent's configuration file, readable by its owner alone."""
    if not config.is_file():
        raise ConfigError("SNMPv3 credentials (snmp_v3) are accepted only from the agent's configuration file "
                          f"({config}), not from the environment")
    mode = config.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{config} holds SNMPv3 keys and is readable by others (mode {mode:04o}); "
                          f"run: chmod 600 {config}")
