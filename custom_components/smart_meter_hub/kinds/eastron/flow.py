"""Adding or reconfiguring a gateway: every unit id is read before anything is saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT

from ...flow import FormError, MeterFlow, address
from ...meters import (
    EASTRON_MODEL_CODES,
    Framing,
    MeterConnectionError,
    MeterError,
    NoAnswerError,
    identify_eastron,
)
from .const import (
    CONF_FRAMING,
    CONF_METERS,
    CONF_MODEL,
    CONF_UNIT_IDS,
    FRAMING_LABELS,
    KEY,
    MODEL_SCHEMA,
    SCHEMA,
    gateway_title,
)
from .modbus_link import flow_transport


def parse_unit_ids(text: str) -> list[int] | None:
    """'1, 2 3' -> [1, 2, 3]; None unless every id is 1-247 and there is at least one."""
    try:
        units = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        return None
    if not units or any(not 1 <= unit <= 247 for unit in units):
        return None
    return sorted(set(units))


def _other(framing: Framing) -> Framing:
    return "rtu" if framing == "tcp" else "tcp"


class EastronFlow(MeterFlow):
    """Add or reconfigure a gateway: every unit id is read before anything is saved."""

    async def _async_answers(
        self, host: str, port: int, framing: Framing, unit: int
    ) -> bool:
        try:
            async with flow_transport(self.hass, host, port, framing, [unit]) as link:
                await identify_eastron(link, unit)
        except MeterError:
            return False
        return True

    async def _async_probe(
        self, host: str, port: int, framing: Framing, units: list[int]
    ) -> list[dict[str, Any]]:
        """Identify every unit; a FormError says which one failed, and why.

        When the first unit does not answer, the other framing is tried, so the user is
        told which one the gateway speaks.
        """
        meters: list[dict[str, Any]] = []
        async with flow_transport(self.hass, host, port, framing, units) as link:
            for unit in units:
                try:
                    serial, code = await identify_eastron(link, unit)
                except NoAnswerError as err:
                    if not meters and await self._async_answers(
                        host, port, _other(framing), unit
                    ):
                        raise FormError(
                            "wrong_framing", framing=FRAMING_LABELS[_other(framing)]
                        ) from err
                    raise FormError("unit_no_answer", unit=str(unit)) from err
                except MeterConnectionError:
                    raise
                except MeterError as err:
                    raise FormError("unit_no_answer", unit=str(unit)) from err
                known = EASTRON_MODEL_CODES.get(code) if code is not None else None
                meters.append(
                    {
                        "unit": unit,
                        "serial": serial,
                        # None: the meter does not say; the user picks it.
                        "model": known[1] if known else None,
                        "code": None if code is None else f"0x{code:04X}",
                    }
                )
        return meters

    async def _async_gateway(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """The entry data for the gateway the form names, every unit identified."""
        units = parse_unit_ids(str(user_input[CONF_UNIT_IDS]))
        if units is None:
            raise FormError("invalid_unit_ids", CONF_UNIT_IDS)
        where = address(user_input)
        framing: Framing = user_input[CONF_FRAMING]
        meters = await self.checked(
            self._async_probe(where[CONF_HOST], where[CONF_PORT], framing, units)
        )
        return {**where, CONF_FRAMING: framing, CONF_METERS: meters}

    _gateway: dict[str, Any] | None = None

    async def async_step_sdm630(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A Modbus gateway with Eastron meters behind it: one device per unit id."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                self._gateway = await self._async_gateway(user_input)
            except FormError as err:
                errors, placeholders = err.errors, err.placeholders
            else:
                return await self.async_step_sdm630_model()
        return self.async_show_form(
            step_id=KEY,
            data_schema=self.add_suggested_values_to_schema(SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_sdm630_model(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which model each meter is, where its model register does not say."""
        data = cast(dict[str, Any], self._gateway)
        undecided = [meter for meter in data[CONF_METERS] if meter["model"] is None]
        if user_input is not None:
            undecided.pop(0)["model"] = user_input[CONF_MODEL]
        if undecided:
            meter = undecided[0]
            return self.async_show_form(
                step_id="sdm630_model",
                data_schema=MODEL_SCHEMA,
                description_placeholders={
                    "unit": str(meter["unit"]),
                    "serial": meter["serial"],
                    "code": meter["code"] or "-",
                },
            )
        for meter in data[CONF_METERS]:
            meter.pop("code", None)
        if self.source == SOURCE_RECONFIGURE:
            return await self.async_update_meter(
                self._get_reconfigure_entry(),
                data,
                unique_id=data[CONF_METERS][0]["serial"],
                same_meter=False,
            )
        return await self.async_create_meter(
            KEY,
            title=gateway_title(data[CONF_HOST], data[CONF_PORT]),
            data=data,
            unique_id=data[CONF_METERS][0]["serial"],
        )

    async def async_step_sdm630_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New address, framing or unit ids of a gateway: every unit is checked again."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                self._gateway = data = await self._async_gateway(user_input)
            except FormError as err:
                errors, placeholders = err.errors, err.placeholders
            else:
                # A meter already on the gateway keeps the model it was given.
                known = {m["serial"]: m.get("model") for m in entry.data[CONF_METERS]}
                for meter in data[CONF_METERS]:
                    meter["model"] = meter["model"] or known.get(meter["serial"])
                return await self.async_step_sdm630_model()
        current = {
            **entry.data,
            CONF_UNIT_IDS: ", ".join(str(m["unit"]) for m in entry.data[CONF_METERS]),
        }
        return self.async_show_form(
            step_id="sdm630_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                SCHEMA, user_input or current
            ),
            errors=errors,
            description_placeholders=placeholders,
        )
