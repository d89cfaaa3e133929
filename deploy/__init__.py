"""Deployment: the `herkomst` command that composes every side's commands, the lab, and service files."""
