"""The fault matrix: each backend's faults run through Home Assistant."""
