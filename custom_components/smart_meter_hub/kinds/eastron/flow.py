"""Adding or reconfiguring a gateway: every unit id is read before anything is saved.

The unit ids are typed, or found: a scan asks every unit id of a range (1-247 unless
narrowed) for an Eastron meter's serial number, briefly and one after the other, while a
progress indicator shows; closing the flow stops it. The meters found are offered ticked,
and go on the path typed unit ids take (the model step, then the entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from ...compat import update_progress, vol
from ...flow import FormError, MeterFlow, address
from ...meters import (
    EASTRON_FRAMING_CHECKS,
    EASTRON_MODEL_CODES,
    EASTRON_SCAN_TIMEOUT,
    BusScan,
    Framing,
    MeterConnectionError,
    MeterError,
    NoAnswerError,
    PacedTransport,
    default_spacing,
    identify_eastron,
    scan_eastron_bus,
)
from .const import (
    CONF_FIND,
    CONF_FIRST_UNIT,
    CONF_FRAMING,
    CONF_LAST_UNIT,
    CONF_METERS,
    CONF_MODEL,
    CONF_SPACING,
    CONF_UNIT_IDS,
    FRAMING_LABELS,
    KEY,
    MODEL_SCHEMA,
    SCAN_SCHEMA,
    SCHEMA,
    gateway_title,
)
from .modbus_link import flow_transport

SCANNING_STEP = "sdm630_scanning"


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


def _meter(unit: int, serial: str, code: int | None) -> dict[str, Any]:
    """A meter as the model step and the entry take it."""
    known = EASTRON_MODEL_CODES.get(code) if code is not None else None
    return {
        "unit": unit,
        "serial": serial,
        # None: the meter does not say; the user picks it.
        "model": known[1] if known else None,
        "code": None if code is None else f"0x{code:04X}",
    }


def _scan_error(
    scan: BusScan | FormError, framing: Framing, units: range
) -> FormError | None:
    """What the gateway form says about a scan that found no meter to offer."""
    if isinstance(scan, FormError):
        return scan
    if scan.outcome == "every_unit":
        return FormError("bus_every_unit", unit=str(scan.last))
    if scan.outcome == "other_framing":
        return FormError("wrong_framing", framing=FRAMING_LABELS[_other(framing)])
    if scan.meters:
        return None
    where = {"first": str(units[0]), "last": str(units[-1])}
    if scan.strangers:
        return FormError("bus_no_eastron", units=_units(scan.strangers), **where)
    return FormError("bus_nothing_answers", **where)


def _units(units: list[int]) -> str:
    return ", ".join(map(str, units)) or "-"


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
                meters.append(_meter(unit, serial, code))
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
    # The scan under way: the gateway, the form it came from, what it found.
    _scan: dict[str, Any] | None = None

    def _gateway_form(
        self,
        step_id: str,
        values: Mapping[str, Any] | None,
        error: FormError | None = None,
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(SCHEMA, values),
            errors=error.errors if error else {},
            description_placeholders=error.placeholders if error else {},
        )

    async def _async_gateway_step(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """The gateway form's answer: its unit ids identified, or found on the bus."""
        if user_input is None:
            return self._gateway_form(step_id, user_input)
        if user_input.get(CONF_FIND):
            self._scan = {
                **address(user_input),
                CONF_FRAMING: user_input[CONF_FRAMING],
                "step": step_id,
                "input": user_input,
            }
            return await self.async_step_sdm630_scan()
        try:
            data = await self._async_gateway(user_input)
        except FormError as err:
            return self._gateway_form(step_id, user_input, err)
        return await self._async_with_models(data)

    async def _async_with_models(self, data: dict[str, Any]) -> ConfigFlowResult:
        """On to the model step; a meter already on a reconfigured gateway keeps its."""
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            known = {m["serial"]: m.get("model") for m in entry.data[CONF_METERS]}
            for meter in data[CONF_METERS]:
                meter["model"] = meter["model"] or known.get(meter["serial"])
        self._gateway = data
        return await self.async_step_sdm630_model()

    async def async_step_sdm630(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A Modbus gateway with Eastron meters behind it: one device per unit id."""
        return await self._async_gateway_step(KEY, user_input)

    # Finding the meters on the bus.

    def _spacing(self) -> float | None:
        """The pause between requests the reconfigured gateway's options set, if any."""
        if self.source != SOURCE_RECONFIGURE:
            return None
        spacing = self._get_reconfigure_entry().options.get(CONF_SPACING)
        return None if spacing is None else float(spacing) / 1000

    async def async_step_sdm630_scan(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which unit ids to ask: every one, unless the user narrows the range."""
        scan = cast(dict[str, Any], self._scan)
        errors: dict[str, str] = {}
        if user_input is not None:
            first, last = (
                int(user_input[CONF_FIRST_UNIT]),
                int(user_input[CONF_LAST_UNIT]),
            )
            scan["range"] = user_input
            if first <= last:
                scan["units"] = range(first, last + 1)
                return await self.async_step_sdm630_scanning()
            errors[CONF_LAST_UNIT] = "invalid_scan_range"
        spacing = self._spacing()
        pause = (
            EASTRON_SCAN_TIMEOUT
            + PacedTransport.UNIT_CHANGE_PAUSE
            + (default_spacing(scan[CONF_FRAMING]) if spacing is None else spacing)
        )
        return self.async_show_form(
            step_id="sdm630_scan",
            data_schema=self.add_suggested_values_to_schema(
                SCAN_SCHEMA, scan.get("range")
            ),
            errors=errors,
            description_placeholders={
                "timeout": f"{EASTRON_SCAN_TIMEOUT:g}",
                "minutes": str(max(round(247 * pause / 60), 1)),
            },
        )

    async def _async_scan(self, scan: Mapping[str, Any]) -> BusScan | FormError:
        """Ask the range's unit ids, the other framing too while nothing answers."""
        host, port, framing = scan[CONF_HOST], scan[CONF_PORT], scan[CONF_FRAMING]
        units: range = scan["units"]
        spacing = self._spacing()

        def progress(done: int) -> None:
            update_progress(self, done / len(units))

        async def run() -> BusScan:
            async with (
                flow_transport(
                    self.hass, host, port, framing, list(units), EASTRON_SCAN_TIMEOUT
                ) as link,
                flow_transport(
                    self.hass,
                    host,
                    port,
                    _other(framing),
                    list(units[:EASTRON_FRAMING_CHECKS]),
                    EASTRON_SCAN_TIMEOUT,
                ) as other,
            ):
                if spacing is not None:
                    link.spacing = other.spacing = spacing
                return await scan_eastron_bus(
                    link, units, progress, other_framing=other
                )

        try:
            return await self.checked(run())
        except FormError as err:
            return err

    async def async_step_sdm630_scanning(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Every unit id of the range asked, a progress indicator showing."""
        scan = cast(dict[str, Any], self._scan)
        units: range = scan["units"]
        return self.async_show_work(
            SCANNING_STEP,
            lambda: self._async_scan(scan),
            progress_action="scanning_bus",
            next_step_id="sdm630_found",
            placeholders={
                "first": str(units[0]),
                "last": str(units[-1]),
                "timeout": f"{EASTRON_SCAN_TIMEOUT:g}",
            },
        )

    async def async_step_sdm630_found(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meters found, all ticked; or the gateway form, saying why there is none."""
        scan = cast(dict[str, Any], self._scan)
        if "found" not in scan:
            result: BusScan | FormError = self.work_result(SCANNING_STEP)
            error = _scan_error(result, scan[CONF_FRAMING], scan["units"])
            if error is not None:
                return self._gateway_form(scan["step"], scan["input"], error)
            found = cast(BusScan, result)
            scan["found"] = {
                str(m.unit): _meter(m.unit, m.serial, m.code) for m in found.meters
            }
            scan["strangers"] = _units(found.strangers)
        meters: dict[str, dict[str, Any]] = scan["found"]
        errors: dict[str, str] = {}
        if user_input is not None:
            if chosen := [meters[u] for u in user_input[CONF_METERS] if u in meters]:
                return await self._async_with_models(
                    {
                        CONF_HOST: scan[CONF_HOST],
                        CONF_PORT: scan[CONF_PORT],
                        CONF_FRAMING: scan[CONF_FRAMING],
                        CONF_METERS: chosen,
                    }
                )
            errors[CONF_METERS] = "nothing_selected"
        options = [
            SelectOptionDict(
                value=unit,
                label=f"unit {unit}: {meter['model'] or 'Eastron'} serial "
                f"{meter['serial']}",
            )
            for unit, meter in meters.items()
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_METERS, default=list(meters)): SelectSelector(
                    SelectSelectorConfig(
                        options=options, multiple=True, mode=SelectSelectorMode.LIST
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="sdm630_found",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "found": str(len(meters)),
                "strangers": scan["strangers"],
            },
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
        if user_input is not None:
            return await self._async_gateway_step("sdm630_reconfigure", user_input)
        data = self._get_reconfigure_entry().data
        current = {
            **data,
            CONF_UNIT_IDS: ", ".join(str(m["unit"]) for m in data[CONF_METERS]),
        }
        return self._gateway_form("sdm630_reconfigure", current)
