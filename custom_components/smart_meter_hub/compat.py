"""Differences between the Home Assistant versions we support (2025.4 to the newest).

Newer Home Assistant validates with ``probatio`` and aliases ``voluptuous`` to it at run
time; the type checker needs the real module of each version, and Home Assistant on
Python 3.13 never has probatio. Config flows have a progress bar since 2025.7.
"""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 14):
    try:
        import probatio as vol
    except ImportError:  # Home Assistant releases before probatio
        import voluptuous as vol  # type: ignore[no-redef]
else:
    import voluptuous as vol

__all__ = ["update_progress", "vol"]


def update_progress(flow: Any, fraction: float) -> None:
    """Move a flow's progress bar to ``fraction`` (0 to 1), if it has one."""
    if update := getattr(flow, "async_update_progress", None):
        update(fraction)
