"""What the OBIS HTTP kind's modules share."""

from __future__ import annotations

from typing import Final

from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN

from ...compat import vol
from ...flow import PASSWORD_SELECTOR, PORT_SELECTOR
from ...meters import OBIS_HTTP_PORT

KEY: Final = "obis_http"
CONF_PATH: Final = "path"
CONF_OBIS_CODES: Final = "obis_codes"
MODEL: Final = "OBIS HTTP JSON meter"
# A flow's read of a meter, seconds: something that takes the connection but sends no
# HTTP answer in this time is no OBIS meter's API (a Modbus port, say). Polls wait
# longer (a busy meter answers late, and is read again at the next poll).
PROBE_TIMEOUT: Final = 5.0

SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=OBIS_HTTP_PORT): PORT_SELECTOR,
        vol.Optional(CONF_TOKEN): PASSWORD_SELECTOR,
        vol.Optional(CONF_PATH): str,
    }
)
