"""Adding, reconfiguring and re-authenticating an OBIS HTTP meter; adding many at once.

Many at once: the user pastes addresses (or a range), each is read while a progress
indicator runs, and one confirmation lists the meters found (all ticked), the ones
already added (skipped) and the addresses that gave none, with the reason. Confirming
starts one integration-discovery flow per meter ticked, which adds it through the same
path as a meter added alone (:meth:`MeterFlow.async_create_meter`: unique id, no device
owned twice) without asking again: the user has confirmed. A one-time key in
``hass.data`` carries each meter's settings to its flow, so that only meters the user
confirmed are added that way.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
)
from homeassistant.util.hass_dict import HassKey

from ...compat import update_progress, vol
from ...const import CONF_METER_TYPE, DOMAIN
from ...coordinator import SmartMeterConfigEntry
from ...flow import PASSWORD_SELECTOR, PORT_SELECTOR, FormError, MeterFlow, address
from ...meters import OBIS_HTTP_PORT, MeterData, MeterServerError, NoAnswerError
from .backend import client_from_data, title
from .bulk import (
    CONCURRENCY,
    MAX_ADDRESSES,
    REASONS,
    Failed,
    Found,
    Target,
    listed,
    parse_addresses,
    probe_all,
)
from .const import CONF_PATH, KEY, PROBE_TIMEOUT, SCHEMA

BULK_STEP: Final = "obis_http_bulk"
DISCOVERED_STEP: Final = "obis_http_discovered"
CONF_ADDRESSES: Final = "addresses"
CONF_METERS: Final = "meters"
CONF_CONFIRMED: Final = "confirmed"
# Meters the user confirmed, by one-time key: what their discovery flows add.
CONFIRMED: HassKey[dict[str, dict[str, Any]]] = HassKey(f"{DOMAIN}_obis_confirmed")

BULK_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_ADDRESSES): TextSelector(TextSelectorConfig(multiline=True)),
        vol.Required(CONF_PORT, default=OBIS_HTTP_PORT): PORT_SELECTOR,
        vol.Optional(CONF_TOKEN): PASSWORD_SELECTOR,
        vol.Optional(CONF_PATH): str,
    }
)


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise form input: integer port, no empty optional fields."""
    data: dict[str, Any] = address(user_input)
    for key in (CONF_TOKEN, CONF_PATH):
        if value := str(user_input.get(key) or "").strip():
            data[key] = value
    return data


def _bulk_defaults(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """What applies to every address of a bulk add: port, token, read path."""
    defaults: dict[str, Any] = {CONF_PORT: int(user_input[CONF_PORT])}
    for key in (CONF_TOKEN, CONF_PATH):
        if value := str(user_input.get(key) or "").strip():
            defaults[key] = value
    return defaults


async def _read(flow: MeterFlow, data: Mapping[str, Any]) -> MeterData:
    """Read the meter once, as a flow does: briefly, every failure told apart.

    Something that takes the connection and the request but sends no HTTP answer
    within :data:`PROBE_TIMEOUT` is another protocol's server (a Modbus port, say):
    "invalid response", quickly, not "cannot connect" after the polls' timeout. A meter
    answering with an HTTP 5xx is there: it answered with an error of its own.
    """
    try:
        return await client_from_data(data, timeout=PROBE_TIMEOUT).read()
    except NoAnswerError as err:
        raise FormError("invalid_response") from err
    except MeterServerError as err:
        raise FormError("meter_error", answer=str(err)) from err


class ObisHttpFlow(MeterFlow):
    """Add, reconfigure and re-authenticate an OBIS HTTP meter; add many at once."""

    _bulk: dict[str, Any] | None = None
    _bulk_targets: list[Target] | None = None
    _bulk_found: dict[str, Target] | None = None
    _bulk_report: dict[str, str] | None = None

    async def _async_serial(self, data: Mapping[str, Any]) -> str:
        """Read the meter once; its serial number, or a FormError."""
        reading = await self.checked(_read(self, data))
        if not reading.serial:
            raise FormError("no_serial")
        return reading.serial

    async def async_step_obis_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the meter answers, read it, and add it."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            try:
                serial = await self._async_serial(data)
            except FormError as err:
                errors, placeholders = err.errors, err.placeholders
            else:
                return await self.async_create_meter(
                    KEY,
                    title=title(serial),
                    data=data,
                    unique_id=serial,
                    updates={key: data[key] for key in (CONF_HOST, CONF_PORT)},
                )
        return self.async_show_form(
            step_id=KEY,
            data_schema=self.add_suggested_values_to_schema(SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_update(
        self, entry: SmartMeterConfigEntry, data: dict[str, Any]
    ) -> tuple[ConfigFlowResult | None, FormError | None]:
        """Save ``data`` if the entry's own meter answers with it; else the form error."""
        try:
            serial = await self._async_serial(data)
        except FormError as err:
            return None, err
        return await self.async_update_meter(entry, data, unique_id=serial), None

    async def async_step_obis_http_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the address or the token; the same meter must answer."""
        entry = self._get_reconfigure_entry()
        error: FormError | None = None
        if user_input is not None:
            result, error = await self._async_update(entry, _clean(user_input))
            if result is not None:
                return result
        return self.async_show_form(
            step_id="obis_http_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                SCHEMA, user_input or entry.data
            ),
            errors=error.errors if error else {},
            description_placeholders=error.placeholders if error else {},
        )

    async def async_step_obis_http_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meter refused the token: ask for the new one, and check it."""
        entry = self._get_reauth_entry()
        error: FormError | None = None
        if user_input is not None:
            data = _clean({**entry.data, CONF_TOKEN: user_input.get(CONF_TOKEN)})
            result, error = await self._async_update(entry, data)
            if result is not None:
                return result
        return self.async_show_form(
            step_id="obis_http_reauth",
            data_schema=vol.Schema({vol.Optional(CONF_TOKEN): PASSWORD_SELECTOR}),
            description_placeholders={
                "host": entry.data[CONF_HOST],
                **(error.placeholders if error else {}),
            },
            errors=error.errors if error else {},
        )

    # Many meters at once.

    async def async_step_obis_http_bulk(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the addresses (a list, a range), the port, token and read path."""
        errors: dict[str, str] = {}
        placeholders = {"limit": str(MAX_ADDRESSES)}
        if user_input is not None:
            defaults = _bulk_defaults(user_input)
            try:
                targets = parse_addresses(
                    str(user_input[CONF_ADDRESSES]),
                    defaults[CONF_PORT],
                    defaults.get(CONF_TOKEN),
                )
            except FormError as err:
                errors = err.errors
                placeholders |= err.placeholders
            else:
                self._bulk = defaults
                self._bulk_targets = targets
                return await self.async_step_obis_http_bulk_read()
        return self.async_show_form(
            step_id=BULK_STEP,
            data_schema=self.add_suggested_values_to_schema(BULK_SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _progress(self, done: int) -> None:
        """Move the progress bar (where this Home Assistant has one)."""
        update_progress(self, done / max(len(self._bulk_targets or []), 1))

    async def async_step_obis_http_bulk_read(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Read every address, a progress indicator showing, then confirm."""
        targets = self._bulk_targets or []
        path = (self._bulk or {}).get(CONF_PATH)
        return self.async_show_work(
            "obis_http_bulk_read",
            lambda: probe_all(self.hass, targets, path, self._progress),
            progress_action="reading_addresses",
            next_step_id="obis_http_bulk_confirm",
            placeholders={
                "count": str(len(targets)),
                "concurrency": str(CONCURRENCY),
                "timeout": f"{PROBE_TIMEOUT:g}",
            },
        )

    def _report(self) -> dict[str, str]:
        """The confirmation's lists: meters skipped, and the failures by reason."""
        results: list[Found | Failed] = self.work_result("obis_http_bulk_read")
        owned = self.owned_meter_ids()
        self._bulk_found = {}
        skipped: list[str] = []
        failed: dict[str, list[Target]] = {reason: [] for reason in REASONS}
        for result in results:
            if isinstance(result, Failed):
                failed[result.reason].append(result.target)
            elif result.serial in owned or result.serial in self._bulk_found:
                skipped.append(f"{result.serial} ({result.target})")
            else:
                self._bulk_found[result.serial] = result.target
        return {
            "found": str(len(self._bulk_found)),
            "skipped": listed(skipped),
            **{reason: listed(targets) for reason, targets in failed.items()},
        }

    async def async_step_obis_http_bulk_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One confirmation: the meters found (all ticked), skipped and failed ones.

        What it lists is what the user confirms: a meter added meanwhile elsewhere is
        not added again (its flow aborts), and said so.
        """
        if self._bulk_report is None:
            self._bulk_report = self._report()
        report = self._bulk_report
        found = self._bulk_found or {}
        if not found:
            return self.async_abort(
                reason="bulk_nothing_found", description_placeholders=report
            )
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = [serial for serial in user_input[CONF_METERS] if serial in found]
            if chosen:
                return await self._async_add_all(chosen)
            errors[CONF_METERS] = "nothing_selected"
        options = [
            SelectOptionDict(value=serial, label=f"{serial} ({target})")
            for serial, target in found.items()
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_METERS, default=list(found)): SelectSelector(
                    SelectSelectorConfig(options=options, multiple=True)
                )
            }
        )
        return self.async_show_form(
            step_id="obis_http_bulk_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders=report,
        )

    async def _async_add_all(self, serials: list[str]) -> ConfigFlowResult:
        """Add each meter chosen, through its own flow; say how many were added."""
        found = self._bulk_found or {}
        settings = self._bulk or {}
        confirmed = self.hass.data.setdefault(CONFIRMED, {})
        added: list[str] = []
        not_added: list[str] = []
        for serial in serials:
            target = found[serial]
            data: dict[str, Any] = {CONF_HOST: target.host, CONF_PORT: target.port}
            if target.token:
                data[CONF_TOKEN] = target.token
            if path := settings.get(CONF_PATH):
                data[CONF_PATH] = path
            key = secrets.token_hex(16)
            confirmed[key] = {"serial": serial, "data": data}
            result = await self.hass.config_entries.flow.async_init(
                DOMAIN,
                context={"source": SOURCE_INTEGRATION_DISCOVERY},
                data={CONF_METER_TYPE: KEY, CONF_CONFIRMED: key},
            )
            confirmed.pop(key, None)
            if result["type"] is FlowResultType.CREATE_ENTRY:
                added.append(serial)
            else:
                not_added.append(serial)
        return self.async_abort(
            reason="bulk_added",
            description_placeholders={
                "added": str(len(added)),
                "not_added": listed(not_added),
            },
        )

    async def async_step_obis_http_discovered(
        self, discovery_info: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """A meter the user confirmed in a bulk add: added without asking again."""
        key = str(discovery_info.get(CONF_CONFIRMED, ""))
        if (meter := self.hass.data.get(CONFIRMED, {}).pop(key, None)) is None:
            return self.async_abort(reason="not_supported")
        data: dict[str, Any] = meter["data"]
        return await self.async_create_meter(
            KEY,
            title=title(meter["serial"]),
            data=data,
            unique_id=meter["serial"],
            updates={key: data[key] for key in (CONF_HOST, CONF_PORT)},
        )
