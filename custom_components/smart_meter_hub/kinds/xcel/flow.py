"""Adding an Xcel meter: the identity, the LFDI to register, the address, the wait."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address
from typing import Any, Final, cast

from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import (
    BooleanSelector,
    TextSelector,
    TextSelectorConfig,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from ...compat import vol
from ...const import CONF_METER_TYPE
from ...flow import PORT_SELECTOR, FormError, MeterFlow, address
from ...meters import (
    IEEE2030_5_PORT,
    Identity,
    IdentityError,
    Ieee2030Client,
    MeterProfile,
    client_ssl_context,
)
from .identity import (
    CONF_CERTIFICATE,
    CONF_PRIVATE_KEY,
    approval_placeholders,
    async_keep_identity,
    async_new_identity,
    async_stored_identity,
    identity_data,
    identity_of,
    import_identity,
)

KEY: Final = "xcel"
CONF_METER_LFDI: Final = "meter_lfdi"
CONF_NEW_IDENTITY: Final = "new_identity"
RESOLVE_TIMEOUT: Final = 5.0
PROBE_TIMEOUT: Final = 10.0

SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=IEEE2030_5_PORT): PORT_SELECTOR,
    }
)
PEM_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))
IMPORT_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_CERTIFICATE): PEM_SELECTOR,
        vol.Required(CONF_PRIVATE_KEY): PEM_SELECTOR,
    }
)
RECONFIGURE_SCHEMA = SCHEMA.extend(
    {vol.Required(CONF_NEW_IDENTITY, default=False): BooleanSelector()}
)


def xcel_title(name: object) -> str:
    """An Xcel entry's title: by SFDI, or by host while the meter is not known yet."""
    return f"Xcel meter {name}"


async def async_addresses(host: str) -> frozenset[str]:
    """What ``host`` stands for: itself, and the IP addresses a host name resolves to.

    A name that does not resolve (now) stands for itself only.
    """
    name = host.strip().lower()
    try:
        return frozenset({str(ip_address(name))})
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            found = await asyncio.get_running_loop().getaddrinfo(
                name, None, type=socket.SOCK_STREAM
            )
    except (OSError, UnicodeError, TimeoutError):
        return frozenset({name})
    return frozenset({name} | {str(ip_address(info[4][0])) for info in found})


async def async_probe(
    hass: HomeAssistant, identity: Identity, host: str, port: int
) -> MeterProfile:
    """Connect once and walk the meter's resources (the flow's check)."""
    context = await hass.async_add_executor_job(client_ssl_context, identity)
    client = Ieee2030Client(host, port, context, timeout=PROBE_TIMEOUT)
    try:
        return await client.discover()
    finally:
        await client.close()


class XcelFlow(MeterFlow):
    """Identity, registration, address; finish and wait when not approved yet."""

    _identity: Identity | None = None
    _xcel_address: dict[str, Any] | None = None

    async def async_step_xcel_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """An Itron meter announced itself (``itrondnsserver-<SFDI>``)."""
        instance = discovery_info.name.split(".", 1)[0]
        sfdi = instance.rpartition("-")[2]
        if not sfdi.isdigit():
            return self.async_abort(reason="not_xcel_meter")
        await self.async_set_meter_id(
            str(int(sfdi)),
            {CONF_HOST: discovery_info.host, CONF_PORT: discovery_info.port},
        )
        self._xcel_address = {
            CONF_HOST: discovery_info.host,
            CONF_PORT: discovery_info.port or IEEE2030_5_PORT,
        }
        self.context["title_placeholders"] = {"name": xcel_title(int(sfdi))}
        return await self.async_step_xcel()

    async def async_step_xcel(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Use the installation's identity, or make or import one."""
        if (identity := await async_stored_identity(self.hass)) is not None:
            self._identity = identity
            return await self.async_step_xcel_register()
        return self.async_show_menu(
            step_id=KEY, menu_options=["xcel_generate", "xcel_import"]
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
                    import_identity,
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
            step_id="xcel_import", data_schema=IMPORT_SCHEMA, errors=errors
        )

    async def async_step_xcel_register(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the LFDI and SFDI to register with the utility."""
        if user_input is not None:
            return await self.async_step_xcel_address()
        if self._approved_elsewhere() is not None:
            return await self.async_step_xcel_registered()
        return self.async_show_form(
            step_id="xcel_register",
            description_placeholders=approval_placeholders(self._xcel_identity),
        )

    async def async_step_xcel_registered(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The identity is already approved and reads a meter: say so, then go on."""
        if user_input is not None:
            return await self.async_step_xcel_address()
        return self.async_show_form(
            step_id="xcel_registered",
            description_placeholders={
                **approval_placeholders(self._xcel_identity),
                "title": self._approved_elsewhere() or "",
            },
        )

    def _approved_elsewhere(self) -> str | None:
        """The title of an Xcel entry this identity already reads a meter with."""
        identity = self._xcel_identity
        for entry in self._async_current_entries(include_ignore=False):
            if (
                entry.data.get(CONF_METER_TYPE) == KEY
                and entry.data.get(CONF_METER_LFDI)
                and entry.data.get(CONF_CERTIFICATE) == identity.certificate_pem
            ):
                return entry.title
        return None

    async def async_step_xcel_address(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the meter answers; check it accepts us, or let the user wait."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._xcel_address = where = address(user_input)
            # The meter serves one connection: one already read by an entry is taken,
            # by whatever name or address it was entered.
            await self._async_abort_if_address_configured(where)
            try:
                profile = await self.checked(
                    async_probe(
                        self.hass,
                        self._xcel_identity,
                        where[CONF_HOST],
                        where[CONF_PORT],
                    )
                )
            except FormError as err:
                if err.errors["base"] == "not_approved":
                    # The meter answered and refused our certificate: wait for it.
                    return await self.async_step_xcel_pending()
                # Nothing answers (or not as a meter): nothing saved, try again.
                errors = err.errors
            else:
                return await self.async_create_meter(
                    KEY,
                    title=xcel_title(profile.sfdi),
                    data=self._xcel_data(profile.lfdi),
                    unique_id=str(profile.sfdi),
                    updates=self._xcel_address,
                )
        return self.async_show_form(
            step_id="xcel_address",
            data_schema=self.add_suggested_values_to_schema(
                SCHEMA, user_input or self._xcel_address
            ),
            errors=errors,
        )

    async def async_step_xcel_pending(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meter does not accept us yet: finish now, the entry waits by itself."""
        identity, where = self._xcel_identity, self._xcel_where
        if user_input is not None:
            await self._async_abort_if_address_configured(where)
            return await self.async_create_meter(
                KEY,
                title=xcel_title(self.unique_id or where[CONF_HOST]),
                data=self._xcel_data(None),
                unique_id=self.unique_id,
            )
        return self.async_show_form(
            step_id="xcel_pending",
            description_placeholders={
                **approval_placeholders(identity),
                CONF_HOST: where[CONF_HOST],
            },
        )

    async def _async_abort_if_address_configured(self, where: dict[str, Any]) -> None:
        """Abort when an Xcel entry (waiting for approval, too) reads this address.

        Host names are resolved first, the entries' and the one entered: the same meter
        typed once as its IP and once as a name is one meter. Another kind's entry at
        the address is no Xcel meter: the meter is asked, and tells what it is not.
        """
        wanted = await async_addresses(where[CONF_HOST])
        for entry in self._async_current_entries(include_ignore=False):
            host, port = entry.data.get(CONF_HOST), entry.data.get(CONF_PORT)
            if entry.data.get(CONF_METER_TYPE) != KEY:
                continue
            if host is None or port != where[CONF_PORT]:
                continue
            if wanted & await async_addresses(str(host)):
                raise AbortFlow("already_configured")

    @property
    def _xcel_identity(self) -> Identity:
        """The identity chosen in an earlier step of this flow."""
        return cast(Identity, self._identity)

    @property
    def _xcel_where(self) -> dict[str, Any]:
        """The address entered (or discovered) in an earlier step of this flow."""
        return cast(dict[str, Any], self._xcel_address)

    def _xcel_data(self, meter_lfdi: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self._xcel_where,
            **identity_data(self._xcel_identity),
        }
        if meter_lfdi:
            data[CONF_METER_LFDI] = meter_lfdi
        return data

    async def async_step_xcel_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New address (the same meter must answer), or, explicitly, a new identity."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            where = address(user_input)
            if user_input[CONF_NEW_IDENTITY]:
                identity = await async_new_identity(self.hass)
                return self.async_save_settings(
                    entry, {**entry.data, **where, **identity_data(identity)}
                )
            identity = await self.hass.async_add_executor_job(identity_of, entry.data)
            if entry.state is ConfigEntryState.LOADED:
                # The meter serves one connection: let go of ours for the check.
                await entry.runtime_data.backend.async_close()
            try:
                profile = await self.checked(
                    async_probe(self.hass, identity, where[CONF_HOST], where[CONF_PORT])
                )
            except FormError as err:
                errors = (
                    {"base": "cannot_connect"}
                    if err.errors["base"] == "not_approved"
                    else err.errors
                )
            else:
                if profile.lfdi != entry.data.get(CONF_METER_LFDI, profile.lfdi):
                    return self.async_abort(reason="wrong_meter")
                return await self.async_update_meter(
                    entry,
                    {**entry.data, **where, CONF_METER_LFDI: profile.lfdi},
                    unique_id=str(profile.sfdi),
                    same_meter=entry.unique_id is not None,
                )
        return self.async_show_form(
            step_id="xcel_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, user_input or entry.data
            ),
            errors=errors,
        )
