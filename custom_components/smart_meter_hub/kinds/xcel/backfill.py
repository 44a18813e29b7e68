"""An outage's hours in the Energy Dashboard, from the meter's own 15-minute history.

Itron meters keep about 30 days of 15-minute interval energy, delivered and received.
When Smart Meter Hub has had no reading for an hour or more (Home Assistant stopped, the
meter silent), the recorder has no statistics for the hours in between, and the first
hour with states again carries the whole missed energy (it adds the counter's increase
since the last state to that hour). This module reads the intervals that cover the gap
and writes them into the energy sensors' own hourly statistics
(``async_import_statistics``), so that each missed hour shows its real energy and the
hour after the gap only its own.

The rows are chained onto the recorder's own: the hourly rows of a ``total_increasing``
sensor keep ``sum - state`` constant (the recorder adds each increase of the counter to
the sum), and so do the rows written here, so every hour's energy is its intervals' and
the rows the recorder compiles after the gap follow on without a jump. Nothing is
adjusted (``async_adjust_statistics`` would shift every later row, counting the gap
twice). Hours are chained

- forwards from the last row before the gap, through the hours whose intervals the meter
  lists complete (the hour in which the gap began included: it also lost its end);
- when that does not reach the end of the gap (intervals missing or spoiled, a gap longer
  than the meter remembers), also backwards from the recorder's row of the hour after
  the gap, once it exists: the hours in between keep what Home Assistant recorded, and
  their energy stays in the first hour after them, as Home Assistant would have it.

The gaps still to fill and the time of the last reading are saved, so a gap across a
restart is found and a fill is repeated after one (writing the same rows again).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import Platform, UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.unit_conversion import EnergyConverter

from ...const import DOMAIN, LOGGER
from ...coordinator import SmartMeterConfigEntry
from ...meters import (
    INTERVAL_DELIVERED,
    INTERVAL_RECEIVED,
    Ieee2030Meter,
    IntervalSeries,
    MeterConnectionError,
    MeterError,
)

HOUR: Final = 3600
GAP: Final = timedelta(hours=1)  # no reading for this long: the hours are filled
# After the gap's last hour: the meter has listed its intervals, the recorder compiled.
SETTLE: Final = timedelta(minutes=15)
# After this, the hours that could not be filled are left as Home Assistant has them.
GIVE_UP: Final = timedelta(hours=6)
MAX_TRIES: Final = 6  # reads of the intervals that fail before a gap is given up
FILL_TIMEOUT: Final = timedelta(minutes=10)  # a stuck attempt never blocks the next
LOOKBACK: Final = timedelta(days=7)  # where the last row before a gap is looked for
SAVE_EVERY: Final = 300.0
STORE_VERSION: Final = 1
# Which sensor (its unique id's suffix) is filled from which interval data.
SENSORS: Final = {
    "energy_import": INTERVAL_DELIVERED,
    "energy_export": INTERVAL_RECEIVED,
}
WORDS: Final = {"energy_import": "imported", "energy_export": "exported"}


@dataclass(frozen=True)
class Gap:
    """No reading from ``start`` (the last one before) to ``end`` (the first after)."""

    start: float
    end: float

    @property
    def first_hour(self) -> int:
        """The hour the gap began in (it lost its end)."""
        return int(self.start // HOUR * HOUR)

    @property
    def after(self) -> int:
        """The hour after the gap: the first one with readings again."""
        return int(self.end // HOUR * HOUR)


class BackfillStore:
    """What every Xcel entry must remember across restarts: one file for all of them."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Nothing is loaded yet."""
        self.hass = hass
        self.store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, f"{DOMAIN}.xcel_backfill"
        )
        self.data: dict[str, dict[str, Any]] = {}
        self._loaded: asyncio.Task[None] | None = None
        self._pending = False

    async def async_load(self) -> None:
        """Load once; entries that no longer exist are forgotten."""
        if self._loaded is None:
            self._loaded = self.hass.async_create_task(self._async_load())
        await self._loaded

    async def _async_load(self) -> None:
        saved = await self.store.async_load() or {}
        entries = {entry.entry_id for entry in self.hass.config_entries.async_entries()}
        self.data = {key: value for key, value in saved.items() if key in entries}

    def changed(self, now: bool = False) -> None:
        """Save soon (within ``SAVE_EVERY``), or ``now``."""
        if now:
            self._pending = False
            self.store.async_delay_save(lambda: self.data, 0)
        elif not self._pending:
            self._pending = True
            self.store.async_delay_save(self._dump, SAVE_EVERY)

    def _dump(self) -> dict[str, Any]:
        self._pending = False
        return self.data


STORE: HassKey[BackfillStore] = HassKey(f"{DOMAIN}_xcel_backfill")


def _hour_text(hour: int) -> str:
    return datetime.fromtimestamp(hour, UTC).strftime("%Y-%m-%d %H:%M")


def _complete_hours(series: IntervalSeries, hours: Iterable[int]) -> dict[int, float]:
    """Wh of every hour whose intervals the meter lists complete."""
    per_hour = HOUR // series.length
    result: dict[int, float] = {}
    for hour in hours:
        slots = [series.slots.get(hour + n * series.length) for n in range(per_hour)]
        if all(wh is not None for wh in slots):
            result[hour] = math.fsum(wh for wh in slots if wh is not None)
    return result


@dataclass
class _Anchor:
    """A row of the recorder's: its hour, state and sum (in the statistic's unit)."""

    hour: int
    state: float
    sum: float


def _row(found: Mapping[str, Any]) -> _Anchor | None:
    state, total = found.get("state"), found.get("sum")
    if state is None or total is None:
        return None
    return _Anchor(int(found["start"]), float(state), float(total))


class EnergyBackfill:
    """Finds one Xcel entry's gaps and fills their hours from the meter's intervals."""

    def __init__(self, hass: HomeAssistant, entry: SmartMeterConfigEntry) -> None:
        """Nothing is loaded yet: :meth:`async_load` first."""
        self.hass = hass
        self.entry = entry
        self.store = hass.data.setdefault(STORE, BackfillStore(hass))
        self._task: asyncio.Task[None] | None = None
        self._logged: set[str] = set()
        self._tries: dict[Gap, int] = {}

    @property
    def _mine(self) -> dict[str, Any]:
        return self.store.data.setdefault(self.entry.entry_id, {"gaps": []})

    @property
    def gaps(self) -> list[Gap]:
        """The gaps still to fill, oldest first."""
        return [Gap(start, end) for start, end in self._mine["gaps"]]

    async def async_load(self) -> None:
        """Restore the last reading's time and the gaps still to fill."""
        await self.store.async_load()

    async def async_save(self) -> None:
        """Save now (the entry unloads)."""
        await self.store.store.async_save(self.store.data)

    def answered(self, now: datetime, meter: Ieee2030Meter, device_id: str) -> None:
        """The meter answered: note a gap before this reading, fill what is due."""
        moment = now.timestamp()
        last = self._mine.get("last")
        self._mine["last"] = moment
        if last is not None and moment - last >= GAP.total_seconds():
            self.add_gap(Gap(last, moment))
        else:
            self.store.changed()
        due = [gap for gap in self.gaps if moment >= gap.after + SETTLE.total_seconds()]
        if due and (self._task is None or self._task.done()) and self._recorder():
            self._task = self.entry.async_create_background_task(
                self.hass,
                self.async_fill_due(due, meter, device_id, now),
                f"{DOMAIN} {self.entry.title} backfill",
            )

    def add_gap(self, gap: Gap) -> None:
        """Remember a time without readings: its hours are filled once compiled."""
        self._mine["gaps"].append([gap.start, gap.end])
        LOGGER.debug(
            "%s: no reading from %s to %s",
            self.entry.title,
            datetime.fromtimestamp(gap.start, UTC),
            datetime.fromtimestamp(gap.end, UTC),
        )
        self.store.changed(now=True)

    def _recorder(self) -> bool:
        return "recorder" in self.hass.config.components

    def _once(self, key: str, message: str, *args: object) -> None:
        """Log a problem once per entry (until Home Assistant restarts)."""
        if key not in self._logged:
            self._logged.add(key)
            LOGGER.warning(message, self.entry.title, *args)

    async def async_fill_due(
        self, gaps: list[Gap], meter: Ieee2030Meter, device_id: str, now: datetime
    ) -> None:
        """Fill ``gaps``; each one filled, or given up after tries or an answer, goes."""
        for gap in gaps:
            try:
                async with asyncio.timeout(FILL_TIMEOUT.total_seconds()):
                    done = await self.async_fill(gap, meter, device_id, now)
            except MeterConnectionError as err:
                # Tried again at a later poll (the gap stays saved).
                LOGGER.debug("%s: interval data not read: %s", self.entry.title, err)
                if not self._given_up(gap, now):
                    continue
                self._once(
                    "unreadable",
                    "%s: the meter's interval data could not be read (%s); hours "
                    "it missed are left as recorded",
                    err,
                )
                done = True
            except MeterError as err:
                # The meter answered, not with interval data (older agents list it
                # and answer 404): nothing to fill, now or later.
                self._once(
                    "unreadable",
                    "%s: the meter's interval data could not be read (%s); hours "
                    "it missed are left as recorded",
                    err,
                )
                done = True
            except Exception as err:  # noqa: BLE001 - a fill never breaks the polls
                # The recorder not ready yet, a stuck attempt: tried again later.
                LOGGER.debug("%s: filling failed", self.entry.title, exc_info=True)
                if not self._given_up(gap, now):
                    continue
                self._once(
                    "failed",
                    "%s: missed hours could not be filled (%s); they are left as "
                    "recorded",
                    repr(err),
                )
                done = True
            if done:
                self._mine["gaps"] = [
                    [start, end]
                    for start, end in self._mine["gaps"]
                    if (start, end) != (gap.start, gap.end)
                ]
                self.store.changed(now=True)

    def _given_up(self, gap: Gap, now: datetime) -> bool:
        """Count a failed try of ``gap``: True when it is not to be tried again."""
        self._tries[gap] = self._tries.get(gap, 0) + 1
        return self._tries[gap] >= MAX_TRIES or self._expired(gap, now)

    @staticmethod
    def _expired(gap: Gap, now: datetime) -> bool:
        return now.timestamp() >= gap.after + HOUR + GIVE_UP.total_seconds()

    async def async_fill(
        self, gap: Gap, meter: Ieee2030Meter, device_id: str, now: datetime
    ) -> bool:
        """Fill what can be filled of ``gap`` now; True when there is nothing left."""
        registry = er.async_get(self.hass)
        plans: list[tuple[str, str, _Plan]] = []
        waiting = False
        for suffix, role in SENSORS.items():
            entity_id = registry.async_get_entity_id(
                Platform.SENSOR, DOMAIN, f"{device_id}_{suffix}"
            )
            if entity_id is None:
                continue
            plan = await self._async_plan(gap, meter, role, entity_id, now)
            if plan is None:
                continue
            if plan.waiting:
                waiting = True
            plans.append((suffix, entity_id, plan))
        LOGGER.debug(
            "%s: missed hours from %s UTC: %s",
            self.entry.title,
            _hour_text(gap.first_hour),
            "; ".join(
                f"{entity_id}: {len(plan.done)} to fill, {len(plan.left)} left"
                f"{', waiting for the hour after the gap' if plan.waiting else ''}"
                for _suffix, entity_id, plan in plans
            )
            or "no statistics to fill",
        )
        if waiting and not self._expired(gap, now):
            # The recorder's row of the hour after the gap is not there yet.
            return False
        filled: set[int] = set()
        energy: dict[str, float] = {}
        for suffix, _entity_id, plan in plans:
            if plan.rows:
                async_import_statistics(self.hass, plan.metadata, plan.rows)
                filled |= plan.done
            energy[suffix] = plan.energy_wh
        if filled:
            LOGGER.info(
                "%s: filled %d hour(s) of energy statistics from %s to %s UTC with the "
                "meter's 15-minute intervals (%s)%s",
                self.entry.title,
                len(filled),
                _hour_text(min(filled)),
                _hour_text(max(filled) + HOUR),
                ", ".join(
                    f"{wh / 1000:.3f} kWh {WORDS[suffix]}"
                    for suffix, wh in energy.items()
                ),
                self._left_text(plans),
            )
        return True

    @staticmethod
    def _left_text(plans: list[tuple[str, str, _Plan]]) -> str:
        left = {hour for _suffix, _entity, plan in plans for hour in plan.left}
        if not left:
            return ""
        return (
            f"; {len(left)} hour(s) from {_hour_text(min(left))} UTC left as recorded "
            "(the meter's intervals for them are missing or spoiled, or older than "
            "it keeps)"
        )

    async def _async_plan(
        self,
        gap: Gap,
        meter: Ieee2030Meter,
        role: str,
        entity_id: str,
        now: datetime,
    ) -> _Plan | None:
        """The rows to write for one sensor, or None when it has nothing to fill."""
        instance = get_instance(self.hass)
        metadata = (
            await instance.async_add_executor_job(
                lambda: get_metadata(self.hass, statistic_ids={entity_id})
            )
        ).get(entity_id)
        if metadata is None:
            return None  # no statistics for this sensor (yet)
        before = await self._async_rows(
            entity_id, gap.first_hour - LOOKBACK.total_seconds(), gap.first_hour
        )
        anchor = _row(before[-1]) if before else None
        first = anchor.hour + HOUR if anchor is not None else gap.first_hour
        hours = list(range(first, gap.after, HOUR))
        if not hours:
            return None
        series = await meter.intervals(role, first, gap.after + HOUR, now.timestamp())
        if series is None:
            self._once(
                "no_intervals",
                "%s: the meter keeps no 15-minute interval data (older agents do not): "
                "hours it missed cannot be filled",
            )
            return None
        for problem in sorted(series.problems):
            self._once(
                problem,
                "%s: the meter's interval data has %s: those intervals are not used",
                problem,
            )
        unit = metadata[1]["unit_of_measurement"] or UnitOfEnergy.KILO_WATT_HOUR
        convert = EnergyConverter.converter_factory(UnitOfEnergy.WATT_HOUR, unit)
        energy = _complete_hours(series, [*hours, gap.after])
        plan = _Plan(metadata[1], convert)
        leading = plan.forward(anchor, hours, energy)
        if len(leading) < len(hours):
            after = await self._async_rows(entity_id, gap.after, gap.after + 1)
            row = _row(after[0]) if after else None
            if row is None or gap.after not in energy:
                # The hour after the gap: not compiled yet, or its intervals not listed.
                plan.waiting = True
            else:
                rest = [hour for hour in hours if hour not in leading]
                plan.backward(row, energy[gap.after], rest, energy)
        plan.left = [hour for hour in hours if hour not in plan.done]
        if plan.left:
            # Rows of the hours left (the recorder writes one for the five minutes in
            # which the sensor became unavailable) must not fall below filled ones.
            existing = await self._async_rows(entity_id, first, gap.after)
            plan.carry(anchor, [row for found in existing if (row := _row(found))])
        return plan

    async def _async_rows(
        self, entity_id: str, start: float, end: float
    ) -> list[Mapping[str, Any]]:
        """The recorder's hourly rows of ``entity_id`` starting in [start, end)."""
        instance = get_instance(self.hass)
        found = await instance.async_add_executor_job(
            statistics_during_period,
            self.hass,
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(end, UTC),
            {entity_id},
            "hour",
            None,
            {"state", "sum"},
        )
        return list(found.get(entity_id, []))


class _Plan:
    """The rows to write for one sensor: chained onto the recorder's rows."""

    def __init__(
        self, metadata: StatisticMetaData, convert: Callable[[float], float]
    ) -> None:
        self.metadata = metadata
        self.convert = convert
        self.rows: list[StatisticData] = []
        self.done: set[int] = set()
        self.left: list[int] = []
        self.waiting = False
        self.energy_wh = 0.0

    def _add(self, hour: int, state: float, total: float, wh: float) -> None:
        self.rows.append(
            {
                "start": datetime.fromtimestamp(hour, UTC),
                "state": state,
                "sum": total,
            }
        )
        self.done.add(hour)
        self.energy_wh += wh

    def forward(
        self, anchor: _Anchor | None, hours: list[int], energy: Mapping[int, float]
    ) -> list[int]:
        """Rows for the hours after ``anchor`` whose intervals are complete, in a run."""
        if anchor is None:
            return []
        state, total = anchor.state, anchor.sum
        for hour in hours:
            if hour not in energy:
                break
            step = self.convert(energy[hour])
            state, total = state + step, total + step
            self._add(hour, state, total, energy[hour])
        return sorted(self.done)

    def carry(self, anchor: _Anchor | None, existing: list[_Anchor]) -> None:
        """Lift rows of hours not filled to the last row before them, if they are lower.

        Such an hour then shows no energy; what it had is in the next filled hour, as
        Home Assistant puts what it missed into the first hour it has again.
        """
        ours = {int(row["start"].timestamp()): row for row in self.rows}
        last: tuple[float, float] | None = (
            (anchor.state, anchor.sum) if anchor is not None else None
        )
        for hour in sorted(set(ours) | {row.hour for row in existing}):
            if hour in ours:
                last = (float(ours[hour]["state"] or 0), float(ours[hour]["sum"] or 0))
                continue
            row = next(row for row in existing if row.hour == hour)
            if last is not None and row.sum < last[1]:
                self.rows.append(
                    {
                        "start": datetime.fromtimestamp(hour, UTC),
                        "state": last[0],
                        "sum": last[1],
                    }
                )
            else:
                last = (row.state, row.sum)
        self.rows.sort(key=lambda row: row["start"])

    def backward(
        self,
        after: _Anchor,
        after_wh: float,
        hours: list[int],
        energy: Mapping[int, float],
    ) -> None:
        """Rows for the last hours before ``after`` whose intervals are complete."""
        state = after.state - self.convert(after_wh)
        total = after.sum - self.convert(after_wh)
        for hour in reversed(hours):
            if hour not in energy:
                break
            self._add(hour, state, total, energy[hour])
            step = self.convert(energy[hour])
            state, total = state - step, total - step
        self.rows.sort(key=lambda row: row["start"])
