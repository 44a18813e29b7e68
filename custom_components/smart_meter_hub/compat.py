"""Differences between the Home Assistant versions we support (2025.4 to the newest).

Newer Home Assistant validates with ``probatio`` and aliases ``voluptuous`` to it at run
time; the type checker needs the real module of each version, and Home Assistant on
Python 3.13 never has probatio.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 14):
    try:
        import probatio as vol
    except ImportError:  # Home Assistant releases before probatio
        import voluptuous as vol  # type: ignore[no-redef]
else:
    import voluptuous as vol

__all__ = ["vol"]
