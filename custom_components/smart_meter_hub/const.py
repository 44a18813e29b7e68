"""Constants of the Smart Meter Hub integration."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

DOMAIN: Final = "smart_meter_hub"
LOGGER = logging.getLogger(__package__)

CONF_METER_TYPE: Final = "meter_type"
CONF_PATH: Final = "path"
CONF_OBIS_CODES: Final = "obis_codes"

METER_OBIS_HTTP: Final = "obis_http"
METER_TYPES: Final = (METER_OBIS_HTTP,)

DEFAULT_SCAN_INTERVAL: Final = {METER_OBIS_HTTP: timedelta(seconds=60)}
MIN_SCAN_INTERVAL_S: Final = 5
MAX_SCAN_INTERVAL_S: Final = 3600

# At most this many meters are polled at the same moment across the installation.
MAX_CONCURRENT_POLLS: Final = 10
