#!/usr/bin/env bash
# Set up Herkomst on a fresh Debian 12 machine (as root): system packages and a virtualenv in .venv.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  nmap               # service/OS detection (agent, standard profile) and nmap-service-probes (fingerprints)
  tcpdump            # packet captures that prove the agent's rate caps (tests)
  arp-scan           # the ARP sweep's baseline (bench)
  snmp snmpd         # SNMP agents in the lab and snmpget in its tests
  iproute2           # network namespaces, veth and bridges for the lab
  wireshark-common   # IANA enterprise numbers (/usr/share/wireshark/enterprises.tsv)
  ieee-data          # IEEE OUI registries
  pciutils usbutils  # pci.ids and usb.ids for the host inventory
  openssl curl       # TLS and HTTP clients used by the lab tests
  ca-certificates    # real certificates: the agent's certificate reader is checked against them (tests)
  chromium           # PDF inventory reports (headless print) and the web view's end-to-end test
  wamerican wbritish # English word lists: the negative corpus (tests) and `herkomst fingerprint check`
  python3-venv
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.herkomst-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing Herkomst and its Python dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
echo "==> ready: $(.venv/bin/herkomst --help >/dev/null && echo 'herkomst installed in .venv/bin')"
