"""Simulated meters that speak the real wire protocols, for tests and scripts/develop."""
