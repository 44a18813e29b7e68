"""Names the Xcel kind's modules share."""

from __future__ import annotations

from typing import Final

# How the meter's one TLS connection is used between polls.
CONF_CONNECTION: Final = "connection"
KEEP: Final = "keep"  # held between polls: no handshake a poll (the default)
RELEASE: Final = "release"  # released after each poll, resumed at the next one
CONNECTION_MODES: Final = [KEEP, RELEASE]
