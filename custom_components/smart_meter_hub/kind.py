"""The meter-kind contract: what a kind of meter declares, and what it is given.

The shared Home Assistant code (setup, coordinator, config and options flows,
diagnostics, actions, platforms) never names a kind of meter. Each kind is one module
in ``kinds/`` that declares a :class:`MeterKind`, and one line in the registry
(``kinds/__init__.py``). See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from homeassistant.core import CALLBACK_TYPE, HomeAssistant

from .meters import MeterData, ObisCode

if TYPE_CHECKING:
    from .coordinator import SmartMeterConfigEntry
    from .flow import MeterFlow


class ObisAccess(Protocol):
    """Reading and writing OBIS codes on demand (the read_obis / write_obis actions)."""

    async def read_codes(
        self, codes: Iterable[ObisCode], *, timeout: float = ...
    ) -> MeterData:
        """Read arbitrary codes now."""

    async def write(self, code: ObisCode, value: float | int | str) -> None:
        """Write one parameter."""


class MeterBackend:
    """The Home Assistant side of one entry's meter(s): holds the client, reads.

    ``fetch`` returns one :class:`MeterData` per device that answered, keyed by the
    device's id (its serial number); a device that failed is left out. When nothing
    could be read it raises a typed ``MeterError`` (never ``UpdateFailed``): the
    coordinator decides what the user sees. The optional abilities below default to
    "not supported".
    """

    # On-demand OBIS reads and writes, for meters that speak OBIS codes.
    obis: ObisAccess | None = None

    async def fetch(self) -> Mapping[str, MeterData]:
        """Read every device once."""
        raise NotImplementedError

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Take new options (what to read, how) without reconnecting."""

    def subscribe(self, refresh: Callable[[], object]) -> CALLBACK_TYPE | None:
        """Event-driven kinds call ``refresh`` when their source changes.

        Returns how to stop, or None for polled kinds (the default).
        """
        return None

    async def async_close(self) -> None:
        """Release connections (the entry unloads)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionsForm:
    """A kind's own fields in the options form (the analytics' fields follow them)."""

    # The fields, as voluptuous markers with the entry's current values as defaults.
    fields: Callable[[SmartMeterConfigEntry], dict[Any, Any]] = lambda entry: {}
    # The options to save from what the user entered; raise OptionsError if invalid.
    values: Callable[[Mapping[str, Any]], dict[str, Any]] = lambda user_input: {}


class OptionsError(ValueError):
    """An option the user entered is invalid: ``field`` gets the translated ``error``."""

    def __init__(self, field: str, error: str) -> None:
        """Name the field and the error key."""
        super().__init__(f"{field}: {error}")
        self.field = field
        self.error = error


def unique_id_only(data: Mapping[str, Any], unique_id: str | None) -> frozenset[str]:
    """The devices of an entry of one meter: the meter, its id the entry's unique id."""
    return frozenset() if unique_id is None else frozenset({unique_id})


@dataclass(frozen=True, kw_only=True, slots=True)
class MeterKind:
    """Everything the shared code needs to know about one kind of meter."""

    # Saved in the entry (``meter_type``); also the menu option and the first step.
    key: str
    # The kind's config-flow steps (a MeterFlow subclass; step ids unique to the kind).
    flow: type[MeterFlow]
    # The entry's backend, built without I/O with the meter.
    create_backend: Callable[
        [HomeAssistant, SmartMeterConfigEntry], Awaitable[MeterBackend]
    ]
    # None: not polled; the backend's ``subscribe`` drives the refreshes.
    default_interval: timedelta | None
    options: OptionsForm = field(default_factory=OptionsForm)
    # The device ids (serial numbers) an entry with this data owns: two entries never
    # own the same device, whatever their kinds.
    meter_ids: Callable[[Mapping[str, Any], str | None], frozenset[str]] = (
        unique_id_only
    )
    # Steps of ``flow`` that reconfigure / re-authenticate an entry, if the kind has them.
    reconfigure_step: str | None = None
    reauth_step: str | None = None
    # Entry data keys that diagnostics redact (beyond address, token, serial, title).
    redact: frozenset[str] = frozenset()
    # Entry data keys the running backend writes itself (the meter it found after
    # setup): a change of only these is no new setting, and does not reload the entry.
    learned_data: frozenset[str] = frozenset()
    # Options that change how the meter's values are decoded (a word order), with their
    # defaults: changing one makes the counters' guard forget what it accepted under
    # the old decoding.
    decoding_options: Mapping[str, Any] = field(default_factory=dict)
    # Repair issue (translation key) while the meter waits for an outside approval
    # (MeterPendingError), and after how long a silent meter gets one.
    pending_issue: str | None = None
    silent_issue: tuple[timedelta, str] | None = None
    # The zeroconf service type the kind's ``async_step_<key>_zeroconf`` takes.
    zeroconf: str | None = None
    # More entries of the "Add a meter" menu, after the kind's own: steps of ``flow``
    # (adding several meters at once, say).
    menu_steps: tuple[str, ...] = ()
    # The step of ``flow`` that adds a meter another flow of the kind found and the
    # user confirmed there (integration discovery, with ``meter_type`` in its data).
    discovered_step: str | None = None
