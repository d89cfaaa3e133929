#!/usr/bin/env bash
# Set up Herkomst and run the main job: the collector on SQLite, an enrolled agent, a report, the analyst's view.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
exec .venv/bin/herkomst demo "$@"
