"""CSV cells that are safe to open in a spreadsheet: the one helper every CSV the collector writes goes through.

OWASP's CSV-injection rule: a cell that begins with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with a
single quote, so that Excel, LibreOffice and Google Sheets show it as text instead of running it as a formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """`value` as a CSV cell: strings that a spreadsheet would run as a formula get a leading quote; other
    values (numbers, booleans, None) are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def csv_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: csv_cell(v) for k, v in row.items()}
