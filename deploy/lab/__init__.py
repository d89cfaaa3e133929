"""The lab: network namespaces with emulated vendor devices, for tests, demos and ground truth.

Public surface: `Lab` (up, down, status, devices, exec, popen, fragile_faults), the record types and the address
constants. See deploy/lab/devices.toml for the devices and their ground truth.
"""

from deploy.lab.lab import Lab
from deploy.lab.model import (
    AGENT_ADDRESS,
    AGENT_NODE,
    COLLECTOR_ADDRESS,
    IT_BRIDGE,
    IT_SUBNET,
    OT_BRIDGE,
    OT_SUBNET,
    ROUTER_IT_ADDRESS,
    ROUTER_NODE,
    ROUTER_OT_ADDRESS,
    FragileFault,
    LabDevice,
    LabService,
    LabStatus,
    NodeStatus,
)
from deploy.lab.shell import LabError

__all__ = [
    "AGENT_ADDRESS",
    "AGENT_NODE",
    "COLLECTOR_ADDRESS",
    "IT_BRIDGE",
    "IT_SUBNET",
    "OT_BRIDGE",
    "OT_SUBNET",
    "ROUTER_IT_ADDRESS",
    "ROUTER_NODE",
    "ROUTER_OT_ADDRESS",
    "FragileFault",
    "Lab",
    "LabDevice",
    "LabError",
    "LabService",
    "LabStatus",
    "NodeStatus",
]
