"""SNMPv3 (authPriv, SHA-2 and AES-128/192/256) against the real net-snmp daemon on a loopback port, configured as
operators configure their gear once v2c is switched off; and the keys' handling: only from a 0600 configuration
file, never logged, never in the dry-run."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.probes import ProbeContext
from agent.probes.snmp import _V3Client, probe_snmp, release_snmpv3
from agent.ratelimit import RateLimiter
from agent.scope import Scope
from agent.settings import SnmpV3Credential, load_settings

LO = "127.0.0.1"
DESCR = "S5735-L24T4S-A1 Huawei Versatile Routing Platform Software VRP (R) software,Version 5.170"
USERS = {  # user: (auth protocol, auth key, privacy protocol, privacy key)
    "ops256": ("SHA-256", "auth-key-for-ops", "AES", "priv-key-for-ops"),
    "ops384": ("SHA-384", "third-auth-key-x", "AES-192", "third-priv-key-x"),
    "ops512": ("SHA-512", "another-auth-key", "AES-256", "another-priv-key"),
}


@pytest.fixture(scope="module")
def snmpd_v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Debian's snmpd with SNMPv3 users only: no community answers."""
    if not shutil.which("snmpd"):
        pytest.skip("snmpd not installed (apt-get install snmpd)")
    tmp = tmp_path_factory.mktemp("snmpv3")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LO, 0))
        port = s.getsockname()[1]
    lines = [f"[snmp] persistentDir {tmp}", f"sysDescr {DESCR}", "sysObjectID .1.3.6.1.4.1.2011.2.23.662",
             "master no"]
    for user, (auth, auth_key, priv, priv_key) in USERS.items():
        lines += [f'createUser {user} {auth} "{auth_key}" {priv} "{priv_key}"', f"rouser {user} priv"]
    (tmp / "snmpd.conf").write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Ln", "-C", "-c", str(tmp / "snmpd.conf"), "-p", str(tmp / "pid"), f"udp:{LO}:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MIBS": ""},
    )
    time.sleep(1.0)
    yield port
    proc.terminate()
    proc.wait(5)


def credential(user: str, *, wrong_priv: bool = False) -> SnmpV3Credential:
    auth, auth_key, priv, priv_key = USERS[user]
    return SnmpV3Credential(user=user, auth_protocol=auth, auth_key=auth_key, priv_protocol=priv,  # type: ignore[arg-type]
                            priv_key="not-the-priv-key" if wrong_priv else priv_key)


@pytest.mark.parametrize("user", sorted(USERS))
def test_v3_reads_the_identity_where_v2c_is_switched_off(snmpd_v3: int, user: str) -> None:
    ctx = ProbeContext(limiter=RateLimiter(1000, 1000), timeout=1.0, snmp_communities=["public"],
                       snmp_v3=[credential(user)])
    found = {f.kind: f.value for f in probe_snmp(LO, snmpd_v3, ctx)}
    assert found == {"snmp.sysdescr": DESCR, "snmp.sysobjectid": "1.3.6.1.4.1.2011.2.23.662"}
    assert ctx.limiter.packets_sent == 1 + 2  # the unanswered community, then engine discovery and the GET


def test_a_wrong_key_reads_nothing_and_is_never_logged(snmpd_v3: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = ProbeContext(limiter=RateLimiter(1000, 1000), timeout=0.5, snmp_communities=[],
                       snmp_v3=[credential("ops256", wrong_priv=True)])
    assert probe_snmp(LO, snmpd_v3, ctx) == []
    # the next user in the list is still tried
    ctx = ProbeContext(limiter=RateLimiter(1000, 1000), timeout=0.5, snmp_communities=[],
                       snmp_v3=[credential("ops256", wrong_priv=True), credential("ops512")])
    assert {f.kind for f in probe_snmp(LO, snmpd_v3, ctx)} == {"snmp.sysdescr", "snmp.sysobjectid"}
    for secret in ("not-the-priv-key", *(k for _a, ak, _p, pk in USERS.values() for k in (ak, pk))):
        assert secret not in caplog.text


def test_many_probe_threads_share_one_engine_per_user(snmpd_v3: int) -> None:
    """The identity probes run a thread per host; SNMPv3 asks through one engine per configured user on one event
    loop (an engine per probe cost ~1 MB each and pushed a scan's peak over the agent's 100 MB), and answers
    still reach the thread that asked."""
    users = sorted(USERS)
    ctxs = [ProbeContext(limiter=RateLimiter(1000, 1000), timeout=1.0, snmp_communities=[],
                         snmp_v3=[credential(users[i % len(users)])]) for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda ctx: probe_snmp(LO, snmpd_v3, ctx), ctxs))
    assert all({f.value for f in found} == {DESCR, "1.3.6.1.4.1.2011.2.23.662"} for found in results)
    client = _V3Client.shared()
    assert {cred.user for cred in client.engines} >= set(users)
    assert len(client.engines) <= len(users) + 1  # + the wrong-key user of the test above


def test_the_engines_are_released_after_the_probes_and_made_again_when_asked(snmpd_v3: int) -> None:
    ctx = ProbeContext(limiter=RateLimiter(1000, 1000), timeout=1.0, snmp_communities=[],
                       snmp_v3=[credential(sorted(USERS)[0])])
    assert probe_snmp(LO, snmpd_v3, ctx)
    client = _V3Client.shared()
    assert release_snmpv3() is True
    assert not client.thread.is_alive() and client.loop.is_closed() and not client.engines
    assert release_snmpv3() is False  # nothing left to release
    assert {f.value for f in probe_snmp(LO, snmpd_v3, ctx)} == {DESCR, "1.3.6.1.4.1.2011.2.23.662"}
    assert _V3Client.shared() is not client


def _config(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text('scope = ["198.18.0.0/24"]\n\n[[snmp_v3]]\nuser = "ops256"\nauth_key = "auth-key-for-ops"\n'
                    'priv_key = "priv-key-for-ops"\n')
    path.chmod(mode)
    return path


def test_v3_keys_are_refused_from_a_file_others_can_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"readable by others \(mode 0644\); run: chmod 600"):
        load_settings(_config(tmp_path, 0o644))
    settings = load_settings(_config(tmp_path, 0o600))
    assert [c.user for c in settings.snmp_v3] == ["ops256"]
    assert settings.snmp_v3[0].auth_protocol == "SHA-256" and settings.snmp_v3[0].priv_protocol == "AES"
    shown = repr(settings) + str(settings.model_dump()) + settings.model_dump_json()
    assert "auth-key-for-ops" not in shown and "priv-key-for-ops" not in shown


def test_v3_keys_are_refused_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERKOMST_AGENT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("HERKOMST_AGENT_SNMP_V3", '[{"user": "x", "auth_key": "12345678", "priv_key": "12345678"}]')
    with pytest.raises(ConfigError, match="only from the agent's configuration file"):
        load_settings()


def test_weak_or_unknown_protocols_and_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        SnmpV3Credential(user="u", auth_protocol="MD5", auth_key="12345678", priv_key="12345678")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SnmpV3Credential(user="u", auth_key="12345678", priv_protocol="DES", priv_key="12345678")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SnmpV3Credential(user="u", auth_key="short", priv_key="12345678")


def test_the_dry_run_counts_v3_packets_but_shows_no_user_or_key(tmp_path: Path) -> None:
    from agent.scan import plan

    settings = load_settings(_config(tmp_path, 0o600))
    text = "\n".join(line for lines in plan(Scope.parse(["198.18.0.10/32"], []), "safe", settings).hosts.values()
                     for line in lines)
    assert "2 per SNMPv3 user × 1" in text
    assert "ops256" not in text and "auth-key-for-ops" not in text and "priv-key-for-ops" not in text
