"""The lab: network namespaces with emulated vendor devices, for tests, demos and ground truth."""
