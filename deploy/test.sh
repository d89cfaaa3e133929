#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, then pytest on SQLite, the real PostgreSQL and the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh

# PostgreSQL at 127.0.0.1:5432 (database `test`) is started with the machine; start it if it has stopped.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

echo "==> ruff"
.venv/bin/ruff check agent collector fingerprints deploy tests bench
echo "==> mypy"
.venv/bin/mypy
echo "==> herkomst fingerprint check"
.venv/bin/herkomst fingerprint check
echo "==> pytest"
mkdir -p artefacts
.venv/bin/pytest -q -p no:cacheprovider "$@"
