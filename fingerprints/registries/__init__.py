"""Public registries used as data: IEEE OUI, IANA PENs, nmap's service-probe database. Each loads lazily, once."""
