"""Tests of Smart Meter Hub."""
