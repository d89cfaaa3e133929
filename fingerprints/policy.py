"""The policy: which countries' vendors are flagged (data/policy.toml), versioned and with its sources."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fingerprints.countries import COUNTRIES

DEFAULT_POLICY_PATH = Path(__file__).parent / "data" / "policy.toml"


class PolicyError(ValueError):
    """The policy file is missing or invalid; the message says which and what to fix."""


class PolicySource(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    title: str = Field(min_length=3)
    url: str = ""
    date: str = ""


class Policy(BaseModel):
    """Countries whose vendors are flagged, with the policy's version and sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1)
    name: str = ""
    countries: list[str] = Field(min_length=1)
    sources: list[PolicySource] = Field(default_factory=list)
    territories: dict[str, str] = Field(
        default_factory=dict,
        description="how places a reader might take for a listed country are treated (ISO code -> the rule, in "
        "words): Hong Kong and Macau have ISO codes of their own")

    @field_validator("countries")
    @classmethod
    def _iso(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if c not in COUNTRIES]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 codes: {bad}")
        return value

    @field_validator("territories")
    @classmethod
    def _territories(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [c for c in value if c not in COUNTRIES]
        if bad:
            raise ValueError(f"territories: not ISO 3166-1 alpha-2 codes: {bad}")
        return value

    def lists(self, country: str | None) -> bool:
        """True when `country` is on the policy list."""
        return country is not None and country in self.countries


#: Used when no policy file ships (e.g. a stripped install): the default the issue names.
DEFAULT_POLICY = Policy(
    version="builtin-1",
    name="Countries with an offensive cyber programme against the Netherlands (built-in default)",
    countries=["CN", "RU", "IR", "KP"],
    sources=[PolicySource(title="Kamerbrief over de aanpak van statelijke dreigingen (built-in default)")],
)


def load_policy(path: Path | str | None = None) -> Policy:
    """Read a policy TOML file (default: the packaged data/policy.toml)."""
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    if path is None and not p.exists():
        return DEFAULT_POLICY
    try:
        with p.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {p}: {exc.strerror}; pass an existing TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {p} is not valid TOML: {exc}") from exc
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"policy file {p} is invalid: {msgs}") from exc


@functools.cache
def default_policy() -> Policy:
    """The packaged policy, loaded once."""
    return load_policy()


def policy_version() -> str:
    """Version of the packaged policy."""
    return default_policy().version
