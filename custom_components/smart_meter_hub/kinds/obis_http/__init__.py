"""OBIS HTTP JSON meters: one entry per meter, identified by its serial number."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from homeassistant.const import CONF_TOKEN
from homeassistant.helpers.selector import SelectSelector, SelectSelectorConfig

from ...compat import vol
from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterKind, OptionsError, OptionsForm
from ...meters import ObisCode, obis
from .backend import async_create_backend
from .const import CONF_OBIS_CODES, CONF_PATH, KEY
from .flow import BULK_STEP, DISCOVERED_STEP, ObisHttpFlow

__all__ = ["CONF_OBIS_CODES", "CONF_PATH", "KEY", "OBIS_HTTP"]


def _choice(code: ObisCode) -> str:
    """A code as a choice of the form: its six groups joined by "_".

    A translation key, so the form names each code: "1-0:1.8.0 · Energy import".
    """
    return "_".join(str(group) for group in code)


def _code(choice: str) -> ObisCode:
    """A choice of the form (or a code the user typed, in any OBIS form)."""
    if re.fullmatch(r"\d{1,3}(?:_\d{1,3}){5}", choice):
        choice = choice.replace("_", ".")
    return ObisCode.parse(choice)


def _options_fields(entry: SmartMeterConfigEntry) -> dict[Any, Any]:
    known = {str(code): _choice(code) for code in obis.DEFAULT_CODES}
    current = entry.options.get(CONF_OBIS_CODES) or list(known)
    return {
        vol.Required(
            CONF_OBIS_CODES, default=[known.get(code, code) for code in current]
        ): SelectSelector(
            SelectSelectorConfig(
                options=list(known.values()),
                multiple=True,
                custom_value=True,
                translation_key=CONF_OBIS_CODES,
            )
        )
    }


def _options_values(user_input: Mapping[str, Any]) -> dict[str, Any]:
    codes: list[str] = []
    for choice in user_input.get(CONF_OBIS_CODES) or []:
        try:
            code = str(_code(choice))
        except ValueError as err:
            raise OptionsError(CONF_OBIS_CODES, "invalid_obis_code") from err
        if code not in codes:
            codes.append(code)
    return {CONF_OBIS_CODES: codes}


OBIS_HTTP: Final = MeterKind(
    key=KEY,
    flow=ObisHttpFlow,
    create_backend=async_create_backend,
    default_interval=timedelta(seconds=60),
    options=OptionsForm(fields=_options_fields, values=_options_values),
    reconfigure_step="obis_http_reconfigure",
    reauth_step="obis_http_reauth",
    redact=frozenset({CONF_TOKEN}),
    menu_steps=(BULK_STEP,),
    discovered_step=DISCOVERED_STEP,
)
