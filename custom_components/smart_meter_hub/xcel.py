"""Xcel Energy / Itron meters over IEEE 2030.5, on the Home Assistant side.

The client identity (key and certificate) is created once per installation and kept in
Home Assistant's private storage, so every Xcel meter and every later setup use the LFDI
the utility approved. Until the utility approves it the meter refuses us: the entry
retries by itself and a repair issue shows the LFDI; once approved, data flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util

from .const import CONF_CERTIFICATE, CONF_METER_LFDI, CONF_PRIVATE_KEY, DOMAIN, LOGGER
from .meters import MeterConnectionError, MeterData
from .meters.ieee2030_5 import (
    Ieee2030Client,
    Ieee2030Meter,
    MeterNotApprovedError,
    MeterProfile,
)
from .meters.sep2_identity import (
    Identity,
    client_ssl_context,
    generate_identity,
    grouped,
    load_identity,
)

IDENTITY_STORE_VERSION = 1
SILENT_AFTER = timedelta(hours=3)
BACKOFF_MAX = timedelta(minutes=5)


def _identity_store(hass: HomeAssistant) -> Store[dict[str, str]]:
    return Store(hass, IDENTITY_STORE_VERSION, f"{DOMAIN}.xcel_identity", private=True)


async def async_stored_identity(hass: HomeAssistant) -> Identity | None:
    """The installation's client identity, if one was made or imported."""
    stored = await _identity_store(hass).async_load()
    if not stored:
        return None
    return await hass.async_add_executor_job(identity_of, stored)


async def async_keep_identity(hass: HomeAssistant, identity: Identity) -> None:
    """Make ``identity`` the installation's client identity."""
    await _identity_store(hass).async_save(identity_data(identity))


async def async_new_identity(hass: HomeAssistant) -> Identity:
    """Generate a key and certificate (in the executor) and keep them."""
    identity = await hass.async_add_executor_job(generate_identity)
    await async_keep_identity(hass, identity)
    return identity


def identity_data(identity: Identity) -> dict[str, str]:
    """How an identity is saved, in an entry or the store (read back by identity_of)."""
    return {
        CONF_CERTIFICATE: identity.certificate_pem,
        CONF_PRIVATE_KEY: identity.key_pem,
    }


def identity_of(data: Mapping[str, Any]) -> Identity:
    """The identity saved in an entry or the store (checked when it was saved).

    Its certificate may have expired since: it stays the registered identity, and the
    meter decides whether it still accepts it.
    """
    return load_identity(
        data[CONF_CERTIFICATE], data[CONF_PRIVATE_KEY], check_validity=False
    )


def xcel_title(name: object) -> str:
    """An Xcel entry's title: by SFDI, or by host while the meter is not known yet."""
    return f"Xcel meter {name}"


def approval_placeholders(identity: Identity) -> dict[str, str]:
    """What the user gives the utility: the LFDI, grouped, and the SFDI."""
    return {"lfdi": grouped(identity.lfdi), "sfdi": str(identity.sfdi)}


async def async_probe(
    hass: HomeAssistant, identity: Identity, host: str, port: int
) -> MeterProfile:
    """Connect once and walk the meter's resources (the config flow's check)."""
    context = await hass.async_add_executor_job(client_ssl_context, identity)
    client = Ieee2030Client(host, port, context)
    try:
        return await client.discover()
    finally:
        await client.close()


class XcelBackend:
    """One meter, one connection; the resource tree walked once, then 3 GETs a poll."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """No I/O: the TLS context is built on the first poll, in the executor."""
        self.hass = hass
        self.entry = entry
        self.client: Ieee2030Client | None = None
        self.meter: Ieee2030Meter | None = None
        self._failures = 0
        self._next_attempt: datetime | None = None
        self._silent_since: datetime | None = None
        self._approval: dict[str, str] = {}

    @property
    def _issue_ids(self) -> tuple[str, str]:
        entry_id = self.entry.entry_id
        return f"not_approved_{entry_id}", f"agent_silent_{entry_id}"

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
            # certificate. The repair issue says so; polling goes on until it does.
            self._not_approved(True)
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key="not_approved"
            ) from err
        except MeterConnectionError:
            self._no_answer(now)
            raise
        self._not_approved(False)
        self._answered()
        return {str(self.meter.profile.sfdi): data}

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

    def _no_answer(self, now: datetime) -> None:
        self._failures += 1
        delay = min(timedelta(seconds=10 * 2 ** (self._failures - 1)), BACKOFF_MAX)
        self._next_attempt = now + delay
        if self._silent_since is None:
            self._silent_since = now
        if now - self._silent_since >= SILENT_AFTER:
            hours = int((now - self._silent_since).total_seconds() // 3600)
            self._raise_issue(self._issue_ids[1], "agent_silent", {"hours": str(hours)})

    def _raise_issue(
        self, issue_id: str, key: str, placeholders: dict[str, str]
    ) -> None:
        """A repair issue naming this meter; the user reads what to do there."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=key,
            translation_placeholders={"title": self.entry.title, **placeholders},
        )

    def _answered(self) -> None:
        if self._silent_since is not None:
            LOGGER.info("%s answers again", self.entry.title)
        self._failures = 0
        self._next_attempt = None
        self._silent_since = None
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_ids[1])

    def _not_approved(self, present: bool) -> None:
        if not present:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_ids[0])
            return
        self._raise_issue(self._issue_ids[0], "not_approved", self._approval)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Nothing to change on the connection (the poll interval is the coordinator's)."""

    async def async_close(self) -> None:
        """Close the connection to the meter; a later poll opens a new one.

        A poll in flight keeps the old client, which is shut down for good: it never
        reconnects behind our back (the meter serves one connection).
        """
        client, self.client, self.meter = self.client, None, None
        if client is not None:
            await client.shutdown()
