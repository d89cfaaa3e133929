"""Entry point: `python -m deploy.lab.device NAME --run-dir DIR` (started by `herkomst lab up` in `hk-NAME`)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from deploy.lab.device.runtime import run_device
from deploy.lab.inventory import get_device
from deploy.lab.paths import RunDir


def main() -> None:
    """Parse arguments and run the device until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m deploy.lab.device")
    parser.add_argument("name")
    parser.add_argument("--run-dir", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(run_device(get_device(args.name), RunDir(args.run_dir)))


if __name__ == "__main__":
    main()
