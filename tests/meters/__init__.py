"""Tests of the protocol clients (no Home Assistant)."""
