"""The config flow every kind shares: the menu, discovery, reconfigure, reauth, options.

Each kind's own steps are tested with the kind (tests/kinds/<kind>/test_flow.py); here
the class composed from the registry, and the guarantees every kind gets from the
shared path: one entry per device, whatever kinds the entries are.
"""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigFlowResult,
)
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.config_flow import (
    SmartMeterConfigFlow,
    kind_flows,
    menu_options,
)
from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.flow import MeterFlow
from custom_components.smart_meter_hub.kinds import KINDS
from custom_components.smart_meter_hub.kinds.obis_http import CONF_OBIS_CODES
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway

from .helpers import (
    async_add_virtual_meter,
    async_open_gateway_form,
    set_power,
    setup_integration,
    start_reconfigure,
    virtual_entry,
)

STRINGS = json.loads(
    (
        Path(__file__).parents[1]
        / "custom_components/smart_meter_hub/translations/en.json"
    ).read_text()
)


async def test_the_menu_lists_every_kind_in_the_registrys_order(
    hass: HomeAssistant,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    # Each kind, followed by the other ways it offers (many OBIS meters at once).
    assert result["menu_options"] == [
        "obis_http",
        "obis_http_bulk",
        "sdm630",
        "xcel",
        "virtual",
    ]
    assert [option for option in result["menu_options"] if option in KINDS] == list(
        KINDS
    )
    menu = STRINGS["config"]["step"]["user"]["menu_options"]
    for kind in KINDS.values():
        for option in (kind.key, *kind.menu_steps):
            assert option in menu, option


async def test_a_kinds_menu_entries_and_discovered_meters_are_its_own(
    hass: HomeAssistant,
) -> None:
    """The menu lists a kind's extra ways in place; integration discovery goes to the
    kind named in the data, and nothing else is taken."""
    assert menu_options(
        {
            "a": replace(KINDS["obis_http"], key="a", menu_steps=("a_many",)),
            "b": replace(KINDS["virtual"], key="b"),
        }
    ) == ["a", "a_many", "b"]
    for data in ({}, {"meter_type": "virtual"}, {"meter_type": "no_such_kind"}):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=data
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "not_supported"


def _announced(service_type: str) -> ZeroconfServiceInfo:
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname="itrondnsserver-651057190448.local.",
        name=f"itrondnsserver-651057190448.{service_type}",
        port=8081,
        type=service_type,
        properties={},
    )


async def test_discovery_goes_to_the_kind_that_knows_the_service(
    hass: HomeAssistant,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=_announced("_smartenergy._tcp.local."),
    )
    # The Xcel kind's steps: make or import the installation's identity first.
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "xcel"
    progress = hass.config_entries.flow.async_progress()
    assert progress[0]["context"]["title_placeholders"] == {
        "name": "Xcel meter 651057190448"
    }


async def test_discovery_of_a_service_no_kind_knows_is_not_supported(
    hass: HomeAssistant,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=_announced("_http._tcp.local."),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_supported"


async def test_a_kind_without_reconfigure_says_so(hass: HomeAssistant) -> None:
    set_power(hass, "sensor.grid_power", "100")
    entry = await async_add_virtual_meter(hass)
    result = await start_reconfigure(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_not_supported"


async def test_a_kind_without_reauth_says_so(hass: HomeAssistant) -> None:
    # No kind but OBIS HTTP asks for credentials; a reauth of another kind ends at once.
    entry = virtual_entry(hass)
    await setup_integration(hass, entry)
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_not_supported"


async def test_options_of_each_kind(
    hass: HomeAssistant, kind_entry: MockConfigEntry
) -> None:
    """Each kind's own fields, the poll interval where it polls, the analytics."""
    await setup_integration(hass, kind_entry)
    kind = KINDS[kind_entry.data["meter_type"]]
    own = {str(key) for key in kind.options.fields(kind_entry)}
    result = await hass.config_entries.options.async_init(kind_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == kind.key
    fields = {str(key) for key in result["data_schema"].schema}
    assert own <= fields
    assert (CONF_SCAN_INTERVAL in fields) is (kind.default_interval is not None)
    assert {"phantom_threshold", "high_threshold", "night_window_start"} <= fields
    # Every field at its default: what a user gets by saving the form unchanged.
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert dict(kind_entry.options) == result["data"]
    assert own <= set(kind_entry.options)
    if kind.default_interval is not None:
        assert kind_entry.options[CONF_SCAN_INTERVAL] == (
            kind.default_interval.total_seconds()
        )
    assert kind_entry.options["phantom_threshold"] == 200


def test_the_options_flow_has_a_step_per_kind_and_no_other() -> None:
    """A form's submit lands in the step named after the kind, and only there."""
    entry = MockConfigEntry(domain=DOMAIN, data={"meter_type": "virtual"})
    flow = SmartMeterConfigFlow.async_get_options_flow(entry)
    for key in KINDS:
        assert callable(getattr(flow, f"async_step_{key}"))
    assert not hasattr(flow, "async_step_from_the_future")
    assert not hasattr(flow, "async_step_user")


async def test_obis_codes_are_checked_and_saved_in_one_form(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SCAN_INTERVAL: 30,
            CONF_OBIS_CODES: ["1.8.0", "1-0:1.8.0", "1-0:2.8.0*255", "oops"],
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_OBIS_CODES: "invalid_obis_code"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SCAN_INTERVAL: 30,
            CONF_OBIS_CODES: ["1.8.0", "1-0:1.8.0", "1-0:2.8.0*255"],
            "night_window_start": "00:30:00",
            "phantom_threshold": 150,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # (Besides the options of features of their own, tested with them.)
    assert (
        dict(init_integration.options).items()
        >= {
            CONF_SCAN_INTERVAL: 30,
            CONF_OBIS_CODES: ["1-0:1.8.0.255", "1-0:2.8.0.255"],
            "night_window_start": "00:30:00",
            "night_window_end": "05:00:00",
            "phantom_threshold": 150,
            "high_threshold": 10_000.0,
            "high_delay": 60.0,
            "high_hysteresis": 500.0,
        }.items()
    )
    await hass.async_block_till_done()


async def test_a_device_belongs_to_one_entry_whatever_its_kind(
    hass: HomeAssistant, gateway: Sdm630Gateway, socket_enabled: None
) -> None:
    """A meter already read as another kind is not added again behind a gateway."""
    # Meter 1002 is already read by an entry of another kind (its serial, its id).
    reader = ObisMeterServer([SimulatedObisMeter(serial="1002")])
    await reader.start()
    try:
        await setup_integration(
            hass,
            MockConfigEntry(
                domain=DOMAIN,
                unique_id="1002",
                title="OBIS meter 1002",
                minor_version=2,
                data={
                    "meter_type": "obis_http",
                    "host": "127.0.0.1",
                    "port": reader.ports[0],
                },
            ),
        )
        # An entry of a kind this version does not know owns nothing it can tell.
        MockConfigEntry(
            domain=DOMAIN,
            unique_id="FUTURE-1",
            minor_version=2,
            data={"meter_type": "from_the_future", "serial": "1001"},
        ).add_to_hass(hass)
        flow_id = await async_open_gateway_form(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {
                "host": "127.0.0.1",
                "port": gateway.port,
                "framing": "tcp",
                "unit_ids": "1, 2",
            },
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        assert not [
            entry
            for entry in hass.config_entries.async_entries(DOMAIN)
            if entry.data["meter_type"] == "sdm630"
        ]
        await hass.config_entries.async_unload(
            hass.config_entries.async_entries(DOMAIN)[0].entry_id
        )
    finally:
        await reader.stop()


class _SameStepAsOBIS(MeterFlow):
    async def async_step_obis_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return self.async_abort(reason="never")


class _OwnDiscoveryStep(MeterFlow):
    async def async_step_zeroconf(self, discovery_info: Any) -> ConfigFlowResult:
        return self.async_abort(reason="never")


@pytest.mark.parametrize(
    ("flow", "step"),
    [
        (_SameStepAsOBIS, "async_step_obis_http"),
        (_OwnDiscoveryStep, "async_step_zeroconf"),
    ],
)
def test_two_kinds_may_not_define_the_same_step(
    flow: type[MeterFlow], step: str
) -> None:
    """The flow class is composed of every kind's steps: none may hide another's."""
    copy = replace(KINDS["virtual"], key="copy", flow=flow)
    with pytest.raises(TypeError, match=f"copy redefines {step}"):
        kind_flows({**KINDS, "copy": copy})
