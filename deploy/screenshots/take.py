"""Take the README's screenshots from the lab demo's data: the inventory report and the analyst web view.

    herkomst demo && .venv/bin/python -m deploy.screenshots.take [--data-dir data/demo]

Needs Debian's chromium and the playwright package (dev extras); writes deploy/screenshots/*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from collector.inventory.pdf import find_chromium
from deploy.demo import collector

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("data/demo"))
    parser.add_argument("--port", type=int, default=8479)
    args = parser.parse_args()
    data = args.data_dir.resolve()
    env = {**os.environ, "HERKOMST_DATA_DIR": str(data)}
    env.pop("HERKOMST_DATABASE_URL", None)
    period = datetime.now(UTC).strftime("%Y-%m")

    def herkomst(*argv: str) -> str:
        return subprocess.run([sys.executable, "-m", "deploy.cli", *argv], env=env, check=True, capture_output=True,
                              text=True).stdout

    herkomst("collector", "report", "--period", period, "--format", "html", "--output", str(data / "report.html"))
    token = json.loads(herkomst("collector", "admin", "create-api-token", "screenshots", "--role", "analyst"))["token"]
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("needs chromium: run deploy/setup.sh")
    from playwright.sync_api import sync_playwright

    with collector(data, "127.0.0.1", args.port) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/ui/login")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/ui/reports")
        report_link = page.locator("#reports a").first.get_attribute("href")
        page.goto(f"{base}{report_link}/view" if report_link and not report_link.endswith("/view") else
                  f"{base}{report_link}")
        page.screenshot(path=str(HERE / "inventory-report.png"), full_page=True)
        page.goto(f"{base}/ui/devices?flagged=yes")
        page.screenshot(path=str(HERE / "web-view-device-search.png"), full_page=True)
        browser.close()
    print(f"wrote {HERE / 'inventory-report.png'} and {HERE / 'web-view-device-search.png'}")


if __name__ == "__main__":
    main()
