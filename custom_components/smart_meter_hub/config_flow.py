"""Config flow: one class made of every kind's steps; reconfigure, reauth, options.

Each kind's steps live in its module (``kinds/``) and end in the shared path of
:class:`~.flow.MeterFlow`. The class registered for the domain is composed here from
the registry, with the steps every kind shares: the menu, discovery, reconfigure,
re-authentication, and the options form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import callback
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.helpers.typing import DiscoveryInfoType

from .appliances import CONF_APPLIANCES
from .compat import vol
from .const import CONF_METER_TYPE, DOMAIN
from .coordinator import SmartMeterConfigEntry
from .flow import MeterFlow
from .kind import MeterKind, OptionsError
from .kinds import KINDS, kind_of
from .options import (
    TOO_SLOW_TO_LEARN,
    analytics_fields,
    analytics_values,
    appliance_fields,
    appliance_placeholders,
    appliance_values,
    interval,
    interval_field,
    learns,
)

type Step = Callable[[dict[str, Any] | None], Awaitable[ConfigFlowResult]]


def kind_flows(kinds: Mapping[str, MeterKind]) -> tuple[type[MeterFlow], ...]:
    """Every kind's steps; two kinds may not define the same step (nor a shared one)."""
    seen: dict[str, str] = {}
    for kind in kinds.values():
        for name in vars(kind.flow):
            if name.startswith("async_step_"):
                if name in seen or hasattr(MeterFlow, name):
                    raise TypeError(f"{kind.key} redefines {name}")
                seen[name] = kind.key
    return tuple(kind.flow for kind in kinds.values())


def menu_options(kinds: Mapping[str, MeterKind]) -> list[str]:
    """The "Add a meter" menu: each kind, followed by the other ways it offers."""
    return [
        option for kind in kinds.values() for option in (kind.key, *kind.menu_steps)
    ]


class SmartMeterConfigFlow(*kind_flows(KINDS), MeterFlow, domain=DOMAIN):  # type: ignore[misc]
    """Add a meter of any kind (mypy cannot follow bases taken from the registry)."""

    kinds = KINDS

    def _step(self, name: str) -> Step:
        step: Step = getattr(self, f"async_step_{name}")
        return step

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which kind of meter to add (and how: a kind may offer more ways)."""
        return self.async_show_menu(step_id="user", menu_options=menu_options(KINDS))

    async def async_step_integration_discovery(
        self, discovery_info: DiscoveryInfoType
    ) -> ConfigFlowResult:
        """A meter another flow found, confirmed there: the kind's own step adds it."""
        kind = KINDS.get(str(discovery_info.get(CONF_METER_TYPE, "")))
        if kind is None or kind.discovered_step is None:
            return self.async_abort(reason="not_supported")
        step: Callable[[DiscoveryInfoType], Awaitable[ConfigFlowResult]] = getattr(
            self, f"async_step_{kind.discovered_step}"
        )
        return await step(discovery_info)

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """A meter announced itself: the kind that knows its service type takes it."""
        for kind in KINDS.values():
            if kind.zeroconf == discovery_info.type:
                step: Callable[[ZeroconfServiceInfo], Awaitable[ConfigFlowResult]] = (
                    getattr(self, f"async_step_{kind.key}_zeroconf")
                )
                return await step(discovery_info)
        return self.async_abort(reason="not_supported")

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where (and how) an entry's meter is read: the kind's own step."""
        kind = kind_of(self._get_reconfigure_entry())
        if kind.reconfigure_step is None:
            return self.async_abort(reason="reconfigure_not_supported")
        return await self._step(kind.reconfigure_step)(user_input)

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The meter refused our credentials: the kind's own step asks for new ones."""
        kind = kind_of(self._get_reauth_entry())
        if kind.reauth_step is None:
            return self.async_abort(reason="reauth_not_supported")
        return await self._step(kind.reauth_step)(None)

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: SmartMeterConfigEntry,
    ) -> SmartMeterOptionsFlow:
        """Options: the kind's own fields, the poll interval, the load analytics."""
        return SmartMeterOptionsFlow()


class SmartMeterOptionsFlow(OptionsFlow):
    """One form per kind (step id: the kind's key); applied without a reload."""

    config_entry: SmartMeterConfigEntry

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the form of the entry's kind."""
        return await self._async_kind_step(user_input)

    def __getattr__(self, name: str) -> Step:
        """``async_step_<kind>``: the form's submit lands in the same handler."""
        if name.removeprefix("async_step_") in KINDS:
            return self._async_kind_step
        raise AttributeError(name)

    async def _async_kind_step(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        kind = kind_of(self.config_entry)
        options = self.config_entry.options
        errors: dict[str, str] = {}
        every = interval(options, kind.default_interval)
        if user_input is not None:
            chosen = _interval_values(kind, user_input)
            every = interval(chosen, kind.default_interval)
            try:
                own = kind.options.values(user_input)
                appliances = appliance_values(user_input, every)
            except OptionsError as err:
                errors[err.field] = err.error
            else:
                return self.async_create_entry(
                    data={
                        **chosen,
                        **own,
                        **analytics_values(user_input),
                        **appliances,
                    }
                )
        elif not learns(every):
            # Said where the appliances are chosen: this meter is too slow for them.
            errors[CONF_APPLIANCES] = TOO_SLOW_TO_LEARN
        poll = (
            interval_field(options, kind.default_interval)
            if kind.default_interval
            else {}
        )
        schema = vol.Schema(
            {
                **poll,
                **kind.options.fields(self.config_entry),
                **analytics_fields(options),
                **appliance_fields(options),
            }
        )
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(
            step_id=kind.key,
            data_schema=schema,
            errors=errors,
            description_placeholders=appliance_placeholders(every),
        )


def _interval_values(kind: MeterKind, user_input: Mapping[str, Any]) -> dict[str, Any]:
    if kind.default_interval is None:
        return {}
    return {CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL])}
