"""End-to-end tests in a real browser (scripts/e2e)."""
