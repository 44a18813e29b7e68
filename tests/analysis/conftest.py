"""Plain-logic tests: no Home Assistant instance is needed."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the package-wide fixture: these tests start no Home Assistant."""
    return
