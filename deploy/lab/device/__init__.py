"""The emulated device: one asyncio process per lab device, run inside its namespace, hosting all its services."""
