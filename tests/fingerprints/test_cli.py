"""`herkomst fingerprint …` through typer's runner (the real commands and the packaged data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from fingerprints.cli import app
from tests.fingerprints.conftest import FIXTURES

runner = CliRunner()


def test_identify_prints_json() -> None:
    result = runner.invoke(app, ["identify", "--kind", "ssh.banner", "SSH-2.0-HUAWEI-1.5"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["vendor_id"] == "huawei" and doc["flagged"] is True and doc["evidence"]


def test_identify_refuses_unknown_kind() -> None:
    result = runner.invoke(app, ["identify", "--kind", "nope", "x"])
    assert result.exit_code == 2


def test_batch_keeps_order_and_survives_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"kind": "ssh.banner", "value": "SSH-2.0-HUAWEI-1.5"}),
        "{not json",
        json.dumps({"kind": "bogus", "value": "x"}),
        json.dumps({"observations": [{"kind": "mac", "value": "00:00:0c:01:02:03"},
                                     {"kind": "ssh.banner", "value": "SSH-2.0-Cisco-1.25"}]}),
        json.dumps({"kind": "mac", "value": 5}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["identify", "--batch", str(src)])
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.output.splitlines()]
    assert len(out) == 5
    assert out[0]["vendor_id"] == "huawei"
    assert "error" in out[1] and "error" in out[2] and "error" in out[4]
    assert out[3]["vendor_id"] == "cisco"
    stdin = runner.invoke(app, ["identify", "--batch", "-"], input=lines[0] + "\n")
    assert json.loads(stdin.output)["vendor_id"] == "huawei"


def test_vendors_search() -> None:
    result = runner.invoke(app, ["vendors", "hikvision"])
    assert result.exit_code == 0
    first = json.loads(result.output.splitlines()[0])
    assert first["id"] == "hikvision" and first["flagged"] is True
    assert runner.invoke(app, ["vendors", "zzzz-no-such-vendor"]).exit_code == 1


def test_check_fails_on_a_fault(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    rules = data / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(
        '[[rule]]\nid = "bad"\nkinds = ["http.server"]\npattern = "^Foo"\nvendor = "cisco"\nconfidence = 0.5\n'
        '[[rule.examples]]\nvalue = "Bar"\nexpect = { vendor = "cisco" }\n', encoding="utf-8")
    result = runner.invoke(app, ["check", "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "does not match" in result.output
