"""Config flow: choose the meter type, test the meter, then save; reauth, reconfigure, options."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_TOKEN,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
    TimeSelector,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .compat import vol
from .const import (
    CONF_CERTIFICATE,
    CONF_CIRCUITS,
    CONF_ENERGY_ENTITY,
    CONF_FRAMING,
    CONF_METER_LFDI,
    CONF_METER_TYPE,
    CONF_METERS,
    CONF_OBIS_CODES,
    CONF_PATH,
    CONF_POWER_ENTITY,
    CONF_PRIVATE_KEY,
    CONF_SPACING,
    CONF_UNIT_IDS,
    CONF_WORD_ORDER,
    DEFAULT_OBIS_INTERVAL,
    DEFAULT_SDM630_INTERVAL,
    DEFAULT_XCEL_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_SCAN_INTERVAL_S,
    METER_OBIS_HTTP,
    METER_SDM630,
    METER_TYPES,
    METER_VIRTUAL,
    METER_XCEL,
    MIN_SCAN_INTERVAL_S,
)
from .load_analytics import (
    ANALYTICS_DEFAULTS,
    CONF_HIGH_DELAY,
    CONF_HIGH_HYSTERESIS,
    CONF_HIGH_THRESHOLD,
    CONF_PHANTOM_THRESHOLD,
    CONF_WINDOW_END,
    CONF_WINDOW_START,
)
from .meters import (
    MeterAuthError,
    MeterConnectionError,
    MeterResponseError,
    ObisCode,
)
from .meters.ieee2030_5 import DEFAULT_PORT as XCEL_PORT, MeterNotApprovedError
from .meters.modbus import default_spacing
from .meters.obis import DEFAULT_CODES
from .meters.obis_http import DEFAULT_PORT
from .meters.sep2_identity import Identity, IdentityError, load_identity
from .obis_http import client_from_data
from .sdm630 import parse_unit_ids, probe_gateway
from .virtual import state_in
from .xcel import (
    approval_placeholders,
    async_keep_identity,
    async_new_identity,
    async_probe,
    async_stored_identity,
    identity_data,
    identity_of,
    xcel_title,
)

PORT_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)
PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


POWER_SENSOR = EntitySelectorConfig(domain="sensor", device_class="power")
VIRTUAL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_POWER_ENTITY): EntitySelector(POWER_SENSOR),
        vol.Optional(CONF_ENERGY_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class="energy")
        ),
        vol.Optional(CONF_CIRCUITS): EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class="power", multiple=True)
        ),
    }
)


SDM630_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=502): PORT_SELECTOR,
        vol.Required(CONF_FRAMING, default="tcp"): SelectSelector(
            SelectSelectorConfig(options=["tcp", "rtu"], translation_key=CONF_FRAMING)
        ),
        vol.Required(CONF_UNIT_IDS, default="1"): str,
    }
)


XCEL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=XCEL_PORT): PORT_SELECTOR,
    }
)
PEM_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))
XCEL_IMPORT_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_CERTIFICATE): PEM_SELECTOR,
        vol.Required(CONF_PRIVATE_KEY): PEM_SELECTOR,
    }
)
CONF_NEW_IDENTITY = "new_identity"
XCEL_RECONFIGURE_SCHEMA = XCEL_SCHEMA.extend(
    {vol.Required(CONF_NEW_IDENTITY, default=False): BooleanSelector()}
)


def _pem_or_file(text: str) -> str:
    """Pasted PEM, or the PEM in the file at that path (blocking)."""
    text = text.strip()
    if "-----BEGIN" in text:
        return text
    try:
        return Path(text).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as err:
        raise IdentityError("file_not_found") from err


def _import_identity(certificate: str, key: str) -> Identity:
    """Check an imported certificate and key (blocking: files, PEM, signature)."""
    return load_identity(_pem_or_file(certificate), _pem_or_file(key))


class NoSerialError(MeterResponseError):
    """The meter answered but gave no serial number to identify it by."""


OBIS_HTTP_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=DEFAULT_PORT): PORT_SELECTOR,
        vol.Optional(CONF_TOKEN): PASSWORD_SELECTOR,
        vol.Optional(CONF_PATH): str,
    }
)


def _address(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The host (trimmed) and the port (an integer: the number selector gives floats)."""
    return {
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: int(user_input[CONF_PORT]),
    }


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise form input: integer port, no empty optional fields."""
    data: dict[str, Any] = {CONF_METER_TYPE: METER_OBIS_HTTP, **_address(user_input)}
    for key in (CONF_TOKEN, CONF_PATH):
        if value := str(user_input.get(key) or "").strip():
            data[key] = value
    return data


class SmartMeterConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a meter."""

    VERSION = 1
    MINOR_VERSION = 1

    async def _async_identify(
        self, data: Mapping[str, Any]
    ) -> tuple[str, dict[str, str]]:
        """Read the meter once; return its serial, or form errors."""
        client = client_from_data(self.hass, data)
        try:
            reading = await client.read(DEFAULT_CODES)
            if not reading.serial:
                raise NoSerialError
        except MeterAuthError:
            return "", {"base": "invalid_auth"}
        except MeterConnectionError:
            return "", {"base": "cannot_connect"}
        except NoSerialError:
            return "", {"base": "no_serial"}
        except MeterResponseError:
            return "", {"base": "invalid_response"}
        except Exception:  # noqa: BLE001 - the form must answer, whatever happened
            LOGGER.exception("Unexpected error while reading the meter")
            return "", {"base": "unknown"}
        return reading.serial, {}

    async def _async_update_same_meter(
        self, entry: ConfigEntry, data: dict[str, Any]
    ) -> tuple[ConfigFlowResult | None, dict[str, str]]:
        """Save ``data`` into ``entry`` if the entry's own meter answers with it.

        Returns the finished flow, or the form errors; a different meter aborts.
        """
        serial, errors = await self._async_identify(data)
        if errors:
            return None, errors
        await self.async_set_unique_id(serial)
        self._abort_if_unique_id_mismatch(reason="wrong_meter")
        return self.async_update_reload_and_abort(entry, data=data), {}

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which kind of meter to add."""
        return self.async_show_menu(step_id="user", menu_options=list(METER_TYPES))

    async def async_step_obis_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the OBIS HTTP meter answers, read it, and add it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            serial, errors = await self._async_identify(data)
            if not errors:
                await self.async_set_unique_id(serial)
                self._abort_if_unique_id_configured(
                    updates={key: data[key] for key in (CONF_HOST, CONF_PORT)}
                )
                return self.async_create_entry(title=f"OBIS meter {serial}", data=data)
        return self.async_show_form(
            step_id="obis_http",
            data_schema=self.add_suggested_values_to_schema(
                OBIS_HTTP_SCHEMA, user_input
            ),
            errors=errors,
        )

    async def _async_sdm630(
        self, user_input: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the gateway's input; return (entry data, errors, placeholders)."""
        units = parse_unit_ids(str(user_input[CONF_UNIT_IDS]))
        if units is None:
            return {}, {CONF_UNIT_IDS: "invalid_unit_ids"}, {}
        address = _address(user_input)
        framing = user_input[CONF_FRAMING]
        meters, errors, placeholders = await probe_gateway(
            self.hass, address[CONF_HOST], address[CONF_PORT], framing, units
        )
        data = {
            CONF_METER_TYPE: METER_SDM630,
            **address,
            CONF_FRAMING: framing,
            CONF_METERS: meters,
        }
        return data, errors, placeholders

    async def async_step_sdm630(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A Modbus gateway with SDM630 meters behind it: one device per unit id."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data, errors, placeholders = await self._async_sdm630(user_input)
            if not errors:
                self._async_abort_entries_match(
                    {CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}
                )
                serials = [meter["serial"] for meter in data[CONF_METERS]]
                await self.async_set_unique_id(serials[0])
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=_gateway_title(data[CONF_HOST], data[CONF_PORT]), data=data
                )
        return self.async_show_form(
            step_id="sdm630",
            data_schema=self.add_suggested_values_to_schema(SDM630_SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_virtual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A meter made of power (and energy) sensors already in Home Assistant."""
        errors: dict[str, str] = {}
        if user_input is not None:
            power = user_input[CONF_POWER_ENTITY]
            energy = user_input.get(CONF_ENERGY_ENTITY)
            if state_in(self.hass, power, UnitOfPower.WATT) is None:
                errors[CONF_POWER_ENTITY] = "invalid_power_sensor"
            elif (
                energy
                and state_in(self.hass, energy, UnitOfEnergy.KILO_WATT_HOUR) is None
            ):
                errors[CONF_ENERGY_ENTITY] = "invalid_energy_sensor"
            else:
                await self.async_set_unique_id(f"virtual_{power}")
                self._abort_if_unique_id_configured()
                state = self.hass.states.get(power)
                data = {CONF_METER_TYPE: METER_VIRTUAL, CONF_POWER_ENTITY: power}
                if energy:
                    data[CONF_ENERGY_ENTITY] = energy
                circuits = [
                    c for c in user_input.get(CONF_CIRCUITS) or [] if c != power
                ]
                return self.async_create_entry(
                    title=f"Virtual meter {state.name if state else power}",
                    data=data,
                    options={CONF_CIRCUITS: circuits},
                )
        return self.async_show_form(
            step_id="virtual",
            data_schema=self.add_suggested_values_to_schema(VIRTUAL_SCHEMA, user_input),
            errors=errors,
        )

    _identity: Identity | None = None
    _xcel_address: dict[str, Any] | None = None

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """An Itron meter announced itself (``itrondnsserver-<SFDI>``)."""
        instance = discovery_info.name.split(".", 1)[0]
        sfdi = instance.rpartition("-")[2]
        if not sfdi.isdigit():
            return self.async_abort(reason="not_xcel_meter")
        await self.async_set_unique_id(str(int(sfdi)))
        self._abort_if_unique_id_configured(
            updates={CONF_HOST: discovery_info.host, CONF_PORT: discovery_info.port}
        )
        self._xcel_address = {
            CONF_HOST: discovery_info.host,
            CONF_PORT: discovery_info.port or XCEL_PORT,
        }
        self.context["title_placeholders"] = {"sfdi": str(int(sfdi))}
        return await self.async_step_xcel()

    async def async_step_xcel(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Use the installation's identity, or make or import one."""
        if (identity := await async_stored_identity(self.hass)) is not None:
            self._identity = identity
            return await self.async_step_xcel_register()
        return self.async_show_menu(
            step_id="xcel", menu_options=["xcel_generate", "xcel_import"]
        )

    async def async_step_xcel_generate(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new key and certificate, kept for every Xcel meter of this installation."""
        self._identity = await async_new_identity(self.hass)
        return await self.async_step_xcel_register()

    async def async_step_xcel_import(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A certificate and key made elsewhere (already registered with the utility)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                identity = await self.hass.async_add_executor_job(
                    _import_identity,
                    user_input[CONF_CERTIFICATE],
                    user_input[CONF_PRIVATE_KEY],
                )
            except IdentityError as err:
                errors["base"] = f"identity_{err.reason}"
            else:
                await async_keep_identity(self.hass, identity)
                self._identity = identity
                return await self.async_step_xcel_register()
        return self.async_show_form(
            step_id="xcel_import", data_schema=XCEL_IMPORT_SCHEMA, errors=errors
        )

    async def async_step_xcel_register(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the LFDI and SFDI to register with the utility."""
        if user_input is not None:
            return await self.async_step_xcel_address()
        return self.async_show_form(
            step_id="xcel_register",
            description_placeholders=approval_placeholders(self._xcel_identity),
        )

    async def async_step_xcel_address(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the meter answers; check it accepts us, or let the user wait."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._xcel_address = address = _address(user_input)
            # The meter serves one connection: one already read by an entry is taken.
            self._async_abort_entries_match(address)
            try:
                profile = await async_probe(
                    self.hass,
                    self._xcel_identity,
                    address[CONF_HOST],
                    address[CONF_PORT],
                )
            except (MeterNotApprovedError, MeterConnectionError):
                return await self.async_step_xcel_pending()
            except MeterResponseError:
                errors["base"] = "invalid_response"
            except Exception:  # noqa: BLE001 - the form must answer, whatever happened
                LOGGER.exception("Unexpected error while reading the meter")
                errors["base"] = "unknown"
            else:
                await self.async_set_unique_id(str(profile.sfdi))
                self._abort_if_unique_id_configured(updates=self._xcel_address)
                return self.async_create_entry(
                    title=xcel_title(profile.sfdi),
                    data=self._xcel_data(profile.lfdi),
                )
        return self.async_show_form(
            step_id="xcel_address",
            data_schema=self.add_suggested_values_to_schema(
                XCEL_SCHEMA, user_input or self._xcel_address
            ),
            errors=errors,
        )

    async def async_step_xcel_pending(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meter does not accept us yet: finish now, the entry waits by itself."""
        identity, address = self._xcel_identity, self._xcel_where
        if user_input is not None:
            self._async_abort_entries_match(address)
            name = self.unique_id or address[CONF_HOST]
            return self.async_create_entry(
                title=xcel_title(name), data=self._xcel_data(None)
            )
        return self.async_show_form(
            step_id="xcel_pending",
            description_placeholders={
                **approval_placeholders(identity),
                CONF_HOST: address[CONF_HOST],
            },
        )

    @property
    def _xcel_identity(self) -> Identity:
        """The identity chosen in an earlier step of this flow."""
        return cast(Identity, self._identity)

    @property
    def _xcel_where(self) -> dict[str, Any]:
        """The address entered (or discovered) in an earlier step of this flow."""
        return cast(dict[str, Any], self._xcel_address)

    def _xcel_data(self, meter_lfdi: str | None) -> dict[str, Any]:
        identity = self._xcel_identity
        data: dict[str, Any] = {
            CONF_METER_TYPE: METER_XCEL,
            **self._xcel_where,
            **identity_data(identity),
        }
        if meter_lfdi:
            data[CONF_METER_LFDI] = meter_lfdi
        return data

    async def async_step_reconfigure_xcel(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New address (the same meter must answer), or, explicitly, a new identity."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            address = _address(user_input)
            if user_input[CONF_NEW_IDENTITY]:
                identity = await async_new_identity(self.hass)
                return self.async_update_reload_and_abort(
                    entry, data={**entry.data, **address, **identity_data(identity)}
                )
            identity = await self.hass.async_add_executor_job(identity_of, entry.data)
            if entry.state is ConfigEntryState.LOADED:
                # The meter serves one connection: let go of ours for the check.
                await entry.runtime_data.backend.async_close()
            try:
                profile = await async_probe(
                    self.hass, identity, address[CONF_HOST], address[CONF_PORT]
                )
            except (MeterNotApprovedError, MeterConnectionError):
                errors["base"] = "cannot_connect"
            except MeterResponseError:
                errors["base"] = "invalid_response"
            else:
                if profile.lfdi != entry.data.get(CONF_METER_LFDI, profile.lfdi):
                    return self.async_abort(reason="wrong_meter")
                return self.async_update_reload_and_abort(
                    entry,
                    data={**entry.data, **address, CONF_METER_LFDI: profile.lfdi},
                )
        return self.async_show_form(
            step_id="reconfigure_xcel",
            data_schema=self.add_suggested_values_to_schema(
                XCEL_RECONFIGURE_SCHEMA, user_input or entry.data
            ),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the address or the token of a meter; refuse another meter."""
        entry = self._get_reconfigure_entry()
        if entry.data.get(CONF_METER_TYPE) == METER_VIRTUAL:
            return self.async_abort(reason="reconfigure_virtual")
        if entry.data.get(CONF_METER_TYPE) == METER_SDM630:
            return await self.async_step_reconfigure_sdm630(user_input)
        if entry.data.get(CONF_METER_TYPE) == METER_XCEL:
            return await self.async_step_reconfigure_xcel(user_input)
        errors: dict[str, str] = {}
        if user_input is not None:
            result, errors = await self._async_update_same_meter(
                entry, _clean(user_input)
            )
            if result is not None:
                return result
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                OBIS_HTTP_SCHEMA, user_input or entry.data
            ),
            errors=errors,
        )

    async def async_step_reconfigure_sdm630(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New address, framing or unit ids of a gateway: every unit is checked again."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data, errors, placeholders = await self._async_sdm630(user_input)
            if not errors:
                return self.async_update_reload_and_abort(entry, data=data)
        current = {
            **entry.data,
            CONF_UNIT_IDS: ", ".join(str(m["unit"]) for m in entry.data[CONF_METERS]),
        }
        return self.async_show_form(
            step_id="reconfigure_sdm630",
            data_schema=self.add_suggested_values_to_schema(
                SDM630_SCHEMA, user_input or current
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The meter refused the token: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new token and check it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean({**entry.data, CONF_TOKEN: user_input.get(CONF_TOKEN)})
            result, errors = await self._async_update_same_meter(entry, data)
            if result is not None:
                return result
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Optional(CONF_TOKEN): PASSWORD_SELECTOR}),
            description_placeholders={"host": entry.data[CONF_HOST]},
            errors=errors,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> SmartMeterOptionsFlow:
        """Options: poll interval and the OBIS codes to read."""
        return SmartMeterOptionsFlow()


def _number(maximum: float, unit: str = "W", minimum: float = 0) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement=unit,
        )
    )


def _analytics_fields(options: Mapping[str, Any]) -> dict[Any, Any]:
    """The load analytics' options, common to every meter type."""
    current = {**ANALYTICS_DEFAULTS, **options}
    return {
        vol.Required(
            CONF_WINDOW_START, default=current[CONF_WINDOW_START]
        ): TimeSelector(),
        vol.Required(CONF_WINDOW_END, default=current[CONF_WINDOW_END]): TimeSelector(),
        vol.Required(
            CONF_PHANTOM_THRESHOLD, default=current[CONF_PHANTOM_THRESHOLD]
        ): _number(100_000),
        vol.Required(
            CONF_HIGH_THRESHOLD, default=current[CONF_HIGH_THRESHOLD]
        ): _number(1_000_000),
        vol.Required(CONF_HIGH_DELAY, default=current[CONF_HIGH_DELAY]): _number(
            3600, "s"
        ),
        vol.Required(
            CONF_HIGH_HYSTERESIS, default=current[CONF_HIGH_HYSTERESIS]
        ): _number(100_000),
    }


def _analytics_values(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The load analytics' options as entered (defaults for what the form left out)."""
    return {
        key: user_input.get(key, default) for key, default in ANALYTICS_DEFAULTS.items()
    }


def _interval_field(options: Mapping[str, Any], default: timedelta) -> dict[Any, Any]:
    """The poll interval, 5 s to 1 h, with the meter type's default."""
    return {
        vol.Required(
            CONF_SCAN_INTERVAL,
            default=options.get(CONF_SCAN_INTERVAL, int(default.total_seconds())),
        ): _number(MAX_SCAN_INTERVAL_S, "s", minimum=MIN_SCAN_INTERVAL_S)
    }


class SmartMeterOptionsFlow(OptionsFlow):
    """Poll interval and OBIS codes; applied without reloading the meter."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and check the options."""
        if self.config_entry.data.get(CONF_METER_TYPE) == METER_VIRTUAL:
            return await self.async_step_virtual(user_input)
        if self.config_entry.data.get(CONF_METER_TYPE) == METER_SDM630:
            return await self.async_step_sdm630(user_input)
        if self.config_entry.data.get(CONF_METER_TYPE) == METER_XCEL:
            return await self.async_step_xcel(user_input)
        errors: dict[str, str] = {}
        if user_input is not None:
            codes: list[str] = []
            for text in user_input.get(CONF_OBIS_CODES) or []:
                try:
                    code = str(ObisCode.parse(text))
                except ValueError:
                    errors[CONF_OBIS_CODES] = "invalid_obis_code"
                    break
                if code not in codes:
                    codes.append(code)
            if not errors:
                return self.async_create_entry(
                    data={
                        CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                        CONF_OBIS_CODES: codes,
                        **_analytics_values(user_input),
                    }
                )
        options = self.config_entry.options
        current_codes = options.get(CONF_OBIS_CODES) or [str(c) for c in DEFAULT_CODES]
        schema = vol.Schema(
            {
                **_interval_field(options, DEFAULT_OBIS_INTERVAL),
                vol.Required(CONF_OBIS_CODES, default=current_codes): SelectSelector(
                    SelectSelectorConfig(
                        options=[str(code) for code in DEFAULT_CODES],
                        multiple=True,
                        custom_value=True,
                    )
                ),
                **_analytics_fields(options),
            }
        )
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)

    async def async_step_virtual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Circuits and analytics of a virtual meter."""
        options = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_CIRCUITS: user_input.get(CONF_CIRCUITS) or [],
                    **_analytics_values(user_input),
                }
            )
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_CIRCUITS, default=options.get(CONF_CIRCUITS) or []
                ): EntitySelector(
                    EntitySelectorConfig(
                        domain="sensor", device_class="power", multiple=True
                    )
                ),
                **_analytics_fields(options),
            }
        )
        return self.async_show_form(step_id="virtual", data_schema=schema)

    async def async_step_sdm630(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Poll interval, word order, request spacing, analytics of a gateway."""
        options = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    CONF_WORD_ORDER: user_input[CONF_WORD_ORDER],
                    CONF_SPACING: int(user_input[CONF_SPACING]),
                    **_analytics_values(user_input),
                }
            )
        spacing_ms = round(default_spacing(self.config_entry.data[CONF_FRAMING]) * 1000)
        schema = vol.Schema(
            {
                **_interval_field(options, DEFAULT_SDM630_INTERVAL),
                vol.Required(
                    CONF_WORD_ORDER, default=options.get(CONF_WORD_ORDER, "normal")
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=["normal", "swapped"], translation_key=CONF_WORD_ORDER
                    )
                ),
                vol.Required(
                    CONF_SPACING, default=options.get(CONF_SPACING, spacing_ms)
                ): _number(2000, "ms"),
                **_analytics_fields(options),
            }
        )
        return self.async_show_form(step_id="sdm630", data_schema=schema)

    async def async_step_xcel(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Poll interval and analytics of an Xcel meter."""
        options = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                    **_analytics_values(user_input),
                }
            )
        schema = vol.Schema(
            {
                **_interval_field(options, DEFAULT_XCEL_INTERVAL),
                **_analytics_fields(options),
            }
        )
        return self.async_show_form(step_id="xcel", data_schema=schema)


def _gateway_title(host: str, port: int) -> str:
    """'SDM630 gateway 192.168.1.20', with the port when it is not Modbus' 502."""
    return f"SDM630 gateway {host}" + ("" if port == 502 else f":{port}")
