"""Constants every part of Smart Meter Hub shares (each kind keeps its own)."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "smart_meter_hub"
LOGGER = logging.getLogger(__package__)

# Which kind of meter an entry is (its MeterKind's key).
CONF_METER_TYPE: Final = "meter_type"

MIN_SCAN_INTERVAL_S: Final = 5
MAX_SCAN_INTERVAL_S: Final = 3600

# At most this many meters are polled at the same moment across the installation.
MAX_CONCURRENT_POLLS: Final = 10
