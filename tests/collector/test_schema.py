"""The report schema (contract 2): example documents, their refusals, and the published JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from fingerprints.report import Report, report_json_schema

DATA = Path(__file__).parent.parent / "data" / "reports"


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.stem)
def test_example_documents_validate_and_round_trip(path):
    doc = json.loads(path.read_text())
    report = Report.model_validate(doc)
    again = Report.model_validate(report.to_document())
    assert again == report


def test_macs_are_normalised():
    report = Report.model_validate(json.loads((DATA / "passive-minimal.json").read_text()))
    assert report.devices[0].mac == "00:1b:1b:aa:bb:cc"


@pytest.mark.parametrize("path", sorted((DATA / "invalid").glob("*.json")), ids=lambda p: p.stem)
def test_invalid_examples_are_refused(path):
    with pytest.raises(ValidationError):
        Report.model_validate(json.loads(path.read_text()))


def test_herkomst_schema_report_prints_the_json_schema():
    out = subprocess.run([sys.executable, "-m", "deploy.cli", "schema", "report"], capture_output=True, text=True,
                         check=True).stdout
    schema = json.loads(out)
    assert schema == json.loads(json.dumps(report_json_schema()))
    assert schema["$id"] == "herkomst.report/1"
    assert {"schema", "report_id", "agent", "scan"} <= set(schema["required"])
