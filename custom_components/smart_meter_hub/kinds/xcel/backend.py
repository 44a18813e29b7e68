"""Reading an Xcel meter on the Home Assistant side: one meter, one connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterBackend
from ...meters import (
    Ieee2030Client,
    Ieee2030Meter,
    MeterConnectionError,
    MeterData,
    MeterNotApprovedError,
    MeterProfile,
    client_ssl_context,
)
from .backfill import EnergyBackfill
from .const import CONF_CONNECTION, RELEASE
from .flow import CONF_METER_LFDI, xcel_title
from .identity import approval_placeholders, identity_of

MODEL: Final = "Gen5 Riva (IEEE 2030.5)"
BACKOFF_MAX: Final = timedelta(minutes=5)
REQUEST_TIMEOUT: Final = 10.0


class XcelBackend(MeterBackend):
    """One meter, one connection; the resource tree walked once, then 3 GETs a poll."""

    def __init__(self, hass: HomeAssistant, entry: SmartMeterConfigEntry) -> None:
        """No I/O: the TLS context is built on the first poll, in the executor."""
        self.hass = hass
        self.entry = entry
        self.client: Ieee2030Client | None = None
        self.meter: Ieee2030Meter | None = None
        self.release = False
        self.backfill = EnergyBackfill(hass, entry)
        self._failures = 0
        self._next_attempt: datetime | None = None
        self._approval: dict[str, str] = {}
        self.apply_options(entry.options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Keep the meter's connection between polls, or release it after each one."""
        self.release = options.get(CONF_CONNECTION) == RELEASE

    async def _async_client(self) -> Ieee2030Client:
        if self.client is None:
            identity = await self.hass.async_add_executor_job(
                identity_of, self.entry.data
            )
            self._approval = approval_placeholders(identity)
            context = await self.hass.async_add_executor_job(
                client_ssl_context, identity
            )
            self.client = Ieee2030Client(
                self.entry.data[CONF_HOST],
                self.entry.data[CONF_PORT],
                context,
                pinned_lfdi=self.entry.data.get(CONF_METER_LFDI),
                timeout=REQUEST_TIMEOUT,
            )
        return self.client

    async def fetch(self) -> dict[str, MeterData]:
        """One poll; back off while the meter does not answer."""
        now = dt_util.utcnow()
        if self._next_attempt is not None and now < self._next_attempt:
            raise MeterConnectionError("the meter did not answer; waiting to try again")
        client = await self._async_client()
        try:
            if self.meter is None:
                self.meter = Ieee2030Meter(client, await client.discover())
                self._pin(self.meter.profile)
            data = await self.meter.read()
        except MeterNotApprovedError as err:
            # Nothing to re-enter (so not a reauth): the utility has to approve our
            # certificate, and the user needs the LFDI to ask for it.
            raise MeterNotApprovedError(str(err), self._approval) from err
        except MeterConnectionError:
            self._failures += 1
            delay = min(timedelta(seconds=10 * 2 ** (self._failures - 1)), BACKOFF_MAX)
            # From the failure, not the poll's start: a try that hung for its whole
            # timeout must not use up the pause that follows it.
            self._next_attempt = dt_util.utcnow() + delay
            raise
        finally:
            if self.release:  # other programs may read the meter until the next poll
                await client.release()
        self._failures = 0
        self._next_attempt = None
        sfdi = str(self.meter.profile.sfdi)
        # Hours missed since the last reading: filled from the meter's intervals.
        self.backfill.answered(now, self.meter, sfdi)
        return {sfdi: replace(data, name=xcel_title(sfdi), model=MODEL)}

    def _pin(self, profile: MeterProfile) -> None:
        """Record the meter found after a setup that finished before its approval."""
        if self.entry.data.get(CONF_METER_LFDI) == profile.lfdi:
            return
        if self.client is not None:
            self.client.pinned_lfdi = profile.lfdi
        waiting_title = xcel_title(self.entry.data[CONF_HOST])
        self.hass.config_entries.async_update_entry(
            self.entry,
            data={**self.entry.data, CONF_METER_LFDI: profile.lfdi},
            unique_id=str(profile.sfdi),
            # The title the flow gave while the meter was unknown; a user's title stays.
            title=xcel_title(profile.sfdi)
            if self.entry.title == waiting_title
            else self.entry.title,
        )

    async def async_close(self) -> None:
        """Close the connection to the meter; a later poll opens a new one.

        A poll in flight keeps the old client, which is shut down for good: it never
        reconnects behind our back (the meter serves one connection).
        """
        client, self.client, self.meter = self.client, None, None
        if client is not None:
            await client.shutdown()
        await self.backfill.async_save()


async def async_create_backend(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> MeterBackend:
    """The entry's backend; the TLS context is built on the first poll."""
    backend = XcelBackend(hass, entry)
    await backend.backfill.async_load()
    return backend
