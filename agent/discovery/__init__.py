"""Discovery: which devices exist in scope (ARP sweep, passive listening, nmap host discovery)."""
