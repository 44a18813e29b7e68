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
METER_SDM630: Final = "sdm630"
METER_VIRTUAL: Final = "virtual"
METER_XCEL: Final = "xcel"
METER_TYPES: Final = (METER_OBIS_HTTP, METER_SDM630, METER_XCEL, METER_VIRTUAL)

# The virtual meter follows its source sensors' state changes: no polling.
DEFAULT_OBIS_INTERVAL: Final = timedelta(seconds=60)
DEFAULT_SDM630_INTERVAL: Final = timedelta(seconds=10)
DEFAULT_XCEL_INTERVAL: Final = timedelta(seconds=10)
DEFAULT_SCAN_INTERVAL: Final[dict[str, timedelta | None]] = {
    METER_OBIS_HTTP: DEFAULT_OBIS_INTERVAL,
    METER_SDM630: DEFAULT_SDM630_INTERVAL,
    METER_XCEL: DEFAULT_XCEL_INTERVAL,
    METER_VIRTUAL: None,
}

CONF_POWER_ENTITY: Final = "power_entity"
CONF_ENERGY_ENTITY: Final = "energy_entity"
CONF_CIRCUITS: Final = "circuits"
MIN_SCAN_INTERVAL_S: Final = 5
MAX_SCAN_INTERVAL_S: Final = 3600

# At most this many meters are polled at the same moment across the installation.
MAX_CONCURRENT_POLLS: Final = 10

CONF_FRAMING: Final = "framing"
CONF_UNIT_IDS: Final = "unit_ids"
CONF_METERS: Final = "meters"
CONF_WORD_ORDER: Final = "word_order"
CONF_SPACING: Final = "request_spacing"

CONF_CERTIFICATE: Final = "certificate"
CONF_PRIVATE_KEY: Final = "private_key"
CONF_METER_LFDI: Final = "meter_lfdi"
CONF_IDENTITY: Final = "identity"
