"""Appliance learning of each meter on the Home Assistant side: feeding, storage, results.

One :class:`~.analysis.appliances.ApplianceLearner` per meter device that has whole-home
power (as the load analytics define it, :func:`.analytics.whole_home_power`). It is fed
a sample at every poll (``None`` when the meter failed or the device missed the poll)
and the on/off transitions of the entities chosen in the options, from their state
changes. Samples and transitions are stamped on the event loop's clock (monotonic): a
change of the wall clock (NTP, a daylight-saving change) moves neither.

**States as on/off** (:func:`appliance_on`):

- ``unavailable``, ``unknown``, or an entity removed from Home Assistant: ignored, no
  transition; its estimated power is unknown meanwhile.
- Climate and humidifier entities with an action attribute (``hvac_action``,
  ``action``): off while it is ``off`` or ``idle``, on otherwise (``heating``,
  ``cooling``, ``drying``, ``humidifying`` …): a thermostat in *heat* mode draws power
  only while it heats.
- Every other entity: off for ``off``, ``idle``, ``standby``, ``paused`` and ``docked``;
  on for every other state (``on``, ``playing``, ``heat``, ``cleaning``, ``eco`` …).

A change is measured only when the entity goes straight from one known state to the
other. An entity seen for the first time (at start, when it is chosen, when its
integration loads) or coming back from ``unavailable`` only tells the learner its state:
when it really changed is not known, so no step is measured for it.

A meter that is not polled (one made of sensors that report only on change) sends no
reading while power holds: its last reading is fed again once it is overdue, so steady
power is not taken for missed readings. Overdue means one second later than the
sensor's own pace: the median time between changes of its value, within
:data:`REFEED_S` and :data:`REFEED_MAX_S` seconds. A sensor that reports every 10 s
is not padded with copies every 2 s (each copy would pass for a new reading and the
learner would trust its windows too much); one that reports only when the power
changes has its steady value counted at least every 11 s. A refresh that brings the
same value sooner than that pace (another source of the meter changed) is no new
reading.

**Estimated energy** is estimated power integrated over time per watched entity (the
left rule of Home Assistant's integration helper: each power held until the next
change); unknown power adds nothing. The learned observations and the energy are saved
on a cadence (storage.py) and restored at start; the energy entity also takes the last
state Home Assistant restored if it is higher, so the counter never goes back after a
restart.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_time_interval,
)

from .analysis.appliances import (
    ApplianceEstimate,
    ApplianceLearner,
    Observation,
    Outcome,
    left_riemann_kwh,
)
from .analytics import has_whole_home_power, whole_home_power
from .const import LOGGER
from .meters import ObisCode
from .storage import SAVE_EVERY, CadencedStore

CONF_APPLIANCES: Final = "appliances"
# The domains whose entities switch something that draws power.
APPLIANCE_DOMAINS: Final = (
    "switch",
    "light",
    "fan",
    "climate",
    "water_heater",
    "media_player",
    "input_boolean",
    "humidifier",
    "vacuum",
)
OFF_STATES: Final = frozenset({"off", "idle", "standby", "paused", "docked"})
IGNORED_STATES: Final = frozenset({STATE_UNAVAILABLE, STATE_UNKNOWN})
# The attribute that says whether a climate or humidifier entity is working right now.
ACTION_ATTRIBUTES: Final = {"climate": "hvac_action", "humidifier": "action"}
# A meter that is not polled: its last reading is fed again when overdue, its pace
# within these bounds (seconds), one second late (``REFEED_SLACK_S``).
REFEED_S: Final = 2.0
REFEED_MAX_S: Final = 10.0
REFEED_SLACK_S: Final = 1.0
_PACE_GAPS: Final = 15
STORE_VERSION: Final = 1
# A stamp long before any reading: the learner takes the state and measures nothing.
_UNTIMED: Final = -1e12


STORE: Final = "appliances"  # the shared file under .storage (see storage.py)


def watched_entities(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The entities the options say to learn, in order, each once."""
    chosen = options.get(CONF_APPLIANCES) or []
    if not isinstance(chosen, list | tuple):
        return ()
    return tuple(dict.fromkeys(item for item in chosen if isinstance(item, str)))


def appliance_on(state: State | None) -> bool | None:
    """Whether the entity is on, from its state; None when that is not known."""
    if state is None or state.state in IGNORED_STATES:
        return None
    attribute = ACTION_ATTRIBUTES.get(state.domain)
    action = state.attributes.get(attribute) if attribute else None
    value = action if isinstance(action, str) and action else state.state
    return value not in OFF_STATES


@dataclass(frozen=True, slots=True)
class ApplianceView:
    """What the entities of one watched entity on one meter show."""

    entity_id: str
    learned_power_w: float | None
    observations: int
    spread_w: float | None
    # None while the entity's state is not known (unavailable, removed).
    on: bool | None
    energy_kwh: float

    @property
    def power_w(self) -> float | None:
        """Estimated power: the learned power while on, 0 while off, else unknown."""
        if self.learned_power_w is None or self.on is None:
            return None
        return self.learned_power_w if self.on else 0.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class MeterAppliances:
    """The learner of one meter device and the estimated energy of each entity."""

    def __init__(self, interval_hint_s: float, polled: bool = True) -> None:
        """Nothing learned yet; a meter that is not polled has its readings re-fed."""
        self.learner = ApplianceLearner(interval_hint_s)
        self.polled = polled
        self.energy: dict[str, float] = {}
        self.estimates: dict[str, ApplianceEstimate] = {}
        # The last reading fed (loop time, watts), and when its value last changed.
        self.last_sample: tuple[float, float | None] | None = None
        self._last_change: tuple[float, float | None] | None = None
        self._change_gaps: deque[float] = deque(maxlen=_PACE_GAPS)
        self._integrated_at: float | None = None

    def load(self, saved: object, watched: Iterable[str]) -> None:
        """Take what was saved for the entities still watched; malformed data is skipped."""
        chosen = set(watched)
        if isinstance(saved, Mapping):
            self.learner.load(saved.get("learner"))
            energy = saved.get("energy")
            if isinstance(energy, Mapping):
                for entity_id, kwh in energy.items():
                    if (
                        entity_id in chosen
                        and isinstance(kwh, int | float)
                        and not isinstance(kwh, bool)
                        and math.isfinite(kwh)
                        and kwh >= 0
                    ):
                        self.energy[entity_id] = float(kwh)
        for entity_id in self.learner.entity_ids:
            if entity_id not in chosen:
                self.learner.forget(entity_id)
        for entity_id in chosen:
            self.watch(entity_id)

    def dump(self) -> dict[str, Any]:
        """What :meth:`load` takes."""
        return {
            "learner": self.learner.dump(),
            "energy": {key: round(kwh, 6) for key, kwh in self.energy.items()},
        }

    def watch(self, entity_id: str) -> None:
        """Publish what is known about a newly watched entity."""
        self.estimates[entity_id] = self.learner.estimate(entity_id)

    def forget(self, entity_id: str) -> None:
        """The entity is no longer watched: drop what was learned and counted."""
        self.learner.forget(entity_id)
        self.energy.pop(entity_id, None)
        self.estimates.pop(entity_id, None)

    def power(self, entity_id: str, on: bool | None) -> float | None:
        """The entity's estimated power in this state (None: unknown)."""
        estimate = self.estimates.get(entity_id)
        if estimate is None or on is None:
            return None
        return estimate.power_when(on)

    def integrate(self, now: float, states: Mapping[str, bool | None]) -> bool:
        """Add the energy since the last call, each power held; whether any grew."""
        last, self._integrated_at = self._integrated_at, now
        if last is None:
            return False
        grew = False
        for entity_id in self.estimates:
            power = self.power(entity_id, states.get(entity_id))
            if power:
                kwh = left_riemann_kwh(((last, power), (now, None)))
                if kwh > 0:
                    self.energy[entity_id] = self.energy.get(entity_id, 0.0) + kwh
                    grew = True
        return grew

    @property
    def pace_s(self) -> float:
        """How often the meter's source says something new (meters not polled)."""
        if len(self._change_gaps) < 3:
            return REFEED_S
        return min(max(statistics.median(self._change_gaps), REFEED_S), REFEED_MAX_S)

    def reading(self, now: float, watts: float | None) -> bool:
        """A reading from the meter; whether a learned value changed."""
        if not self.polled:
            last = self.last_sample
            if last is not None and last[1] == watts and now - last[0] < self.pace_s:
                return False  # nothing new: another source of the meter changed
            if self._last_change is None or self._last_change[1] != watts:
                if self._last_change is not None:
                    self._change_gaps.append(now - self._last_change[0])
                self._last_change = (now, watts)
        return self.sample(now, watts)

    def overdue(self, now: float) -> bool:
        """A meter that is not polled sent nothing for longer than its pace."""
        last = self.last_sample
        return (
            not self.polled
            and last is not None
            and now - last[0] >= self.pace_s + REFEED_SLACK_S
        )

    def sample(self, now: float, watts: float | None) -> bool:
        """Feed one reading; whether a learned value changed."""
        self.last_sample = (now, watts)
        return self._take(self.learner.add_sample(now, watts))

    def transition(self, now: float, entity_id: str, on: bool) -> bool:
        """Feed one change of state; whether a learned value changed."""
        return self._take(self.learner.add_transition(now, entity_id, on))

    def _take(self, observations: list[Observation]) -> bool:
        changed = False
        for observation in observations:
            entity_id = observation.entity_id
            if observation.outcome is not Outcome.ACCEPTED:
                LOGGER.debug("%s: step not used (%s)", entity_id, observation.outcome)
                continue
            LOGGER.debug("%s: observed %.1f W", entity_id, observation.power_w)
            # (Only watched entities have transitions: forget() drops the others'.)
            estimate = self.learner.estimate(entity_id)
            if estimate != self.estimates.get(entity_id):
                self.estimates[entity_id] = estimate
                changed = True
        return changed

    def view(self, entity_id: str, on: bool | None) -> ApplianceView:
        """What the entities of ``entity_id`` show."""
        estimate = self.estimates.get(entity_id) or self.learner.estimate(entity_id)
        return ApplianceView(
            entity_id=entity_id,
            learned_power_w=_round(estimate.learned_power_w),
            observations=estimate.observations,
            spread_w=_round(estimate.spread_w),
            on=on,
            energy_kwh=self.energy.get(entity_id, 0.0),
        )


class EntryAppliances:
    """Appliance learning for every meter of an entry, with its store.

    :meth:`async_load`, then :meth:`async_start` (which follows the chosen entities);
    the coordinator feeds each poll with :meth:`add` and :meth:`missed`, and is called
    back (``on_change``) when something the entities show changed between polls.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        title: str,
        options: Mapping[str, Any],
        interval: timedelta | None,
    ) -> None:
        """Nothing is loaded yet; ``interval`` is the poll interval (None: not polled)."""
        self.hass = hass
        self.title = title
        self.polled = interval is not None
        self.interval_hint_s = interval.total_seconds() if interval else REFEED_S
        self.watched = watched_entities(options)
        self.meters: dict[str, MeterAppliances] = {}
        # The current on/off state of each watched entity (None: not known).
        self.states: dict[str, bool | None] = {}
        self.clock: Callable[[], float] = hass.loop.time
        self._saved: dict[str, Any] = {}
        self._loaded = False
        self._noted: set[str] = set()
        self._on_change: Callable[[], None] | None = None
        self._unsub_states: CALLBACK_TYPE | None = None
        self._unsub_refeed: CALLBACK_TYPE | None = None
        self.store = CadencedStore(
            hass, STORE, entry_id, STORE_VERSION, SAVE_EVERY, self._dump
        )

    # -- lifecycle ------------------------------------------------------------------

    async def async_load(self) -> None:
        """Read what was saved; each meter takes its part when it first answers."""
        saved = await self.store.async_load()
        devices = saved.get("devices")
        self._saved = dict(devices) if isinstance(devices, Mapping) else {}
        self._loaded = True

    async def async_save(self) -> None:
        """Save now (the entry unloads); nothing if nothing was loaded."""
        if self._loaded:
            await self.store.async_save()

    def _dump(self) -> dict[str, Any]:
        devices = dict(self._saved)
        for device_id, meter in self.meters.items():
            devices[device_id] = meter.dump()
        return {"devices": devices}

    @callback
    def async_start(self, on_change: Callable[[], None]) -> None:
        """Follow the chosen entities; ``on_change`` when what is shown changes."""
        self._on_change = on_change
        self._follow()
        if not self.polled:
            self._unsub_refeed = async_track_time_interval(
                self.hass,
                self._refeed,
                timedelta(seconds=REFEED_SLACK_S),
                name=f"{self.title} appliance learning",
            )

    @callback
    def async_stop(self) -> None:
        """Stop following the entities."""
        self._on_change = None
        for unsub in (self._unsub_states, self._unsub_refeed):
            if unsub is not None:
                unsub()
        self._unsub_states = self._unsub_refeed = None

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """New entities to learn: the removed ones are forgotten, the new ones followed."""
        watched = watched_entities(options)
        if watched == self.watched:
            return
        self._integrate(self.clock())
        for entity_id in set(self.watched) - set(watched):
            self.states.pop(entity_id, None)
            for meter in self.meters.values():
                meter.forget(entity_id)
        for entity_id in set(watched) - set(self.watched):
            for meter in self.meters.values():
                meter.watch(entity_id)
        self.watched = watched
        if self._on_change is not None:
            self._follow()
        self.store.changed()
        self._changed()

    def _follow(self) -> None:
        """Listen to the watched entities; take the state of those not seen yet."""
        if self._unsub_states is not None:
            self._unsub_states()
            self._unsub_states = None
        if self.watched:
            self._unsub_states = async_track_state_change_event(
                self.hass, list(self.watched), self._state_changed
            )
        for entity_id in self.watched:
            if entity_id not in self.states:
                self._set(entity_id, appliance_on(self.hass.states.get(entity_id)))

    # -- input ----------------------------------------------------------------------

    def add(
        self, device_id: str, values: Mapping[ObisCode, float | str | None]
    ) -> dict[str, ApplianceView]:
        """One poll of one meter; nothing for a meter without whole-home power."""
        if not has_whole_home_power(values):
            return {}
        now = self.clock()
        self._integrate(now)
        meter = self.meters.get(device_id)
        first = meter is None
        if meter is None:
            meter = self._new_meter(device_id)
        meter.reading(now, whole_home_power(values))
        if first:
            # After its first reading: taken as states, not as transitions to measure.
            for entity_id, on in self.states.items():
                if on is not None:
                    meter.transition(_UNTIMED, entity_id, on)
        self.store.changed()
        return self.views(device_id)

    def missed(self, device_ids: Iterable[str]) -> None:
        """These meters did not answer: their readings are missing."""
        now = self.clock()
        self._integrate(now)
        for device_id in list(device_ids):
            if (meter := self.meters.get(device_id)) is not None:
                meter.reading(now, None)

    def restore_energy(self, device_id: str, entity_id: str, kwh: float) -> bool:
        """Home Assistant restored a higher energy than was saved: continue from it."""
        meter = self.meters.get(device_id)
        if (
            meter is None
            or entity_id not in meter.estimates
            or not math.isfinite(kwh)
            or kwh <= meter.energy.get(entity_id, 0.0)
        ):
            return False
        meter.energy[entity_id] = kwh
        self.store.changed()
        self._changed()
        return True

    def _new_meter(self, device_id: str) -> MeterAppliances:
        meter = MeterAppliances(self.interval_hint_s, self.polled)
        meter.load(self._saved.pop(device_id, None), self.watched)
        self.meters[device_id] = meter
        return meter

    @callback
    def _state_changed(self, event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]  # one of the watched: see _follow
        new_state = event.data["new_state"]
        if new_state is None:
            self._note(
                f"removed:{entity_id}",
                "%s: %s was removed from Home Assistant; its power is not estimated "
                "until it is back",
                self.title,
                entity_id,
            )
        on = appliance_on(new_state)
        was = self.states.get(entity_id)
        if on == was:
            return
        now = self.clock()
        self._integrate(now)
        if was is None:
            self._set(entity_id, on)
        else:
            self.states[entity_id] = on
            if on is not None:
                for meter in self.meters.values():
                    meter.transition(now, entity_id, on)
        self.store.changed()
        self._changed()

    def _set(self, entity_id: str, on: bool | None) -> None:
        """Take a state without measuring a step (when it changed is not known)."""
        self.states[entity_id] = on
        if on is not None:
            for meter in self.meters.values():
                meter.transition(_UNTIMED, entity_id, on)

    @callback
    def _refeed(self, _now: datetime) -> None:
        """Feed the last reading again to meters that sent none for longer than usual."""
        now = self.clock()
        changed = self._integrate(now)
        for meter in self.meters.values():
            if meter.overdue(now) and meter.last_sample is not None:
                changed = meter.sample(now, meter.last_sample[1]) or changed
        if changed:
            self.store.changed()
            self._changed()

    def _integrate(self, now: float) -> bool:
        grew = False
        for meter in self.meters.values():
            grew = meter.integrate(now, self.states) or grew
        return grew

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _note(self, key: str, message: str, *args: object) -> None:
        """Warn once per entry and key; afterwards at debug level."""
        if key in self._noted:
            LOGGER.debug(message, *args)
            return
        self._noted.add(key)
        LOGGER.warning(message, *args)

    # -- output ---------------------------------------------------------------------

    def views(self, device_id: str) -> dict[str, ApplianceView]:
        """What the entities of each watched entity on ``device_id`` show."""
        meter = self.meters.get(device_id)
        if meter is None:
            return {}
        return {
            entity_id: meter.view(entity_id, self.states.get(entity_id))
            for entity_id in self.watched
        }
