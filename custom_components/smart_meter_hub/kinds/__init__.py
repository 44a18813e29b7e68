"""The registry of meter kinds: the one place that lists them.

A new kind of meter is a module in this package that declares a ``MeterKind``, and one
line here. Setup, the config and options flows, diagnostics and the actions find every
kind through :data:`KINDS`; nothing outside this package names one.
"""

from __future__ import annotations

from typing import Final

from homeassistant.exceptions import ConfigEntryError

from ..const import CONF_METER_TYPE, DOMAIN
from ..coordinator import SmartMeterConfigEntry
from ..kind import MeterKind
from .eastron import EASTRON
from .obis_http import OBIS_HTTP
from .virtual import VIRTUAL
from .xcel import XCEL

# In the order the "Add a meter" menu lists them.
KINDS: Final[dict[str, MeterKind]] = {
    kind.key: kind for kind in (OBIS_HTTP, EASTRON, XCEL, VIRTUAL)
}

# Entries from before the kind was saved in them are OBIS HTTP meters.
LEGACY_KIND: Final = OBIS_HTTP.key


def kind_of(entry: SmartMeterConfigEntry) -> MeterKind:
    """The kind of meter an entry reads, or a translated setup error."""
    meter_type = entry.data.get(CONF_METER_TYPE)
    if (kind := KINDS.get(str(meter_type))) is None:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="unknown_meter_type",
            translation_placeholders={"meter_type": str(meter_type)},
        )
    return kind
