"""The Dutch vital sectors and processes, shipped as data (collector/data/sectors.toml)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib.resources import files

from pydantic import BaseModel


class VitalProcess(BaseModel):
    name: str
    category: str


class Sector(BaseModel):
    code: str
    name: str
    name_en: str
    processes: list[VitalProcess]


@lru_cache
def sectors() -> dict[str, Sector]:
    """Every sector by code, in the order of the data file."""
    data = tomllib.loads(files("collector").joinpath("data/sectors.toml").read_text(encoding="utf-8"))
    return {raw["code"]: Sector.model_validate(raw) for raw in data["sector"]}
