"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis), on SQLite and on the real
PostgreSQL: whatever a client sends, with the credentials that reach past authentication for each route, the
collector never answers 5xx, and every answer is one the document declares — its status code, its content type and
its body's schema.

Runs in-process with a bounded, derandomised number of examples per operation, so it stays well under a minute and
a failure replays the same way.
"""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import checks

from collector.app import create_app
from tests.conftest import make_world

#: What every answer must satisfy.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]


def _token_for(world, path: str, method: str) -> str:
    if path == "/api/v1/reports" and method.upper() == "POST":
        return world.agent_key
    return world.admin_token if path.startswith("/api/v1/admin") else world.analyst_token


def test_no_input_makes_the_collector_fail_or_stray_from_its_schema(engine, settings):
    world = make_world(engine)
    app = create_app(settings, engine=engine)
    with TestClient(app):  # runs the app's startup, as a served collector would
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10
        failures: list[str] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            # derandomize: the same examples on every CI run, so a failure is reproducible and CI is not flaky.
            @hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                      derandomize=True)
            def check(case):
                token = _token_for(world, case.operation.path, case.method)
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                response = case.call()
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
                failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
        assert failures == [], "\n\n".join(failures)

