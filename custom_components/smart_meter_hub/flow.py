"""What every kind's config flow shares: one path to save a meter, one to update it.

Each kind's steps live in its module (``kinds/``) as a :class:`MeterFlow` subclass;
``config_flow.py`` composes them from the registry. Every kind ends in
:meth:`MeterFlow.async_create_meter` or :meth:`MeterFlow.async_update_meter`, so each
gets the same guarantees: the meter's unique id is set and checked, and no device id
(serial number) the new entry would own is owned by another entry of any kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ClassVar

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import CONF_METER_TYPE, DOMAIN, LOGGER
from .coordinator import SmartMeterConfigEntry
from .kind import MeterKind
from .meters import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterPendingError,
)

PORT_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)
PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def address(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The host (trimmed) and the port (an integer: the number selector gives floats)."""
    return {
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: int(user_input[CONF_PORT]),
    }


class FormError(Exception):
    """What a form shows when a check fails: an error key per field, placeholders."""

    def __init__(self, error: str, field: str = "base", **placeholders: str) -> None:
        """``error`` is a key of config.error in the translations."""
        super().__init__(error)
        self.errors = {field: error}
        self.placeholders = placeholders


def form_error(err: MeterError) -> FormError:
    """The one mapping of the meters' typed errors to form errors."""
    if isinstance(err, MeterPendingError):
        return FormError("not_approved", **err.details)
    if isinstance(err, MeterAuthError):
        return FormError("invalid_auth")
    if isinstance(err, MeterConnectionError):
        return FormError("cannot_connect")
    return FormError("invalid_response")


class MeterFlow(ConfigFlow):
    """Base of every kind's flow steps (no domain: config_flow.py registers the whole)."""

    VERSION = 1
    MINOR_VERSION = 2
    # Every kind by key; set by config_flow.py from the registry.
    kinds: ClassVar[Mapping[str, MeterKind]] = {}

    # Work behind a progress indicator, by the step that shows it.
    _progress_tasks: dict[str, asyncio.Task[Any]] | None = None

    def async_show_work(
        self,
        step_id: str,
        work: Callable[[], Coroutine[Any, Any, Any]],
        *,
        progress_action: str,
        next_step_id: str,
        placeholders: Mapping[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Run ``work`` in the background, a progress indicator showing, then go on.

        The step calls this each time it is shown: the first time starts ``work``; once
        it is done, the flow goes on to ``next_step_id``, which takes its result with
        :meth:`work_result`. Closing the flow cancels the work.
        """
        tasks = self._progress_tasks = self._progress_tasks or {}
        if (task := tasks.get(step_id)) is None:
            task = tasks[step_id] = self.hass.async_create_task(
                work(), f"{DOMAIN} {step_id}", eager_start=False
            )
        if not task.done():
            return self.async_show_progress(
                step_id=step_id,
                progress_action=progress_action,
                progress_task=task,
                description_placeholders=dict(placeholders or {}),
            )
        return self.async_show_progress_done(next_step_id=next_step_id)

    def work_result(self, step_id: str) -> Any:
        """What the work behind ``step_id`` returned (or raised); it may run again."""
        return (self._progress_tasks or {}).pop(step_id).result()

    def async_remove(self) -> None:
        """The flow is closed: work still running behind a progress indicator stops."""
        for task in (self._progress_tasks or {}).values():
            task.cancel()
        super().async_remove()

    async def checked[T](self, check: Awaitable[T]) -> T:
        """The result of a check against the meter, or a :class:`FormError`.

        Whatever else goes wrong is logged and shown as "unknown": the form answers.
        """
        try:
            return await check
        except FormError:
            raise
        except MeterError as err:
            raise form_error(err) from err
        except Exception as err:
            LOGGER.exception("Unexpected error while checking the meter")
            raise FormError("unknown") from err

    def kind_of(self, entry: SmartMeterConfigEntry) -> MeterKind | None:
        """The kind of an existing entry (None for a kind this version does not know)."""
        return self.kinds.get(entry.data.get(CONF_METER_TYPE, ""))

    def owned_meter_ids(
        self, *, besides: SmartMeterConfigEntry | None = None
    ) -> frozenset[str]:
        """The devices (serial numbers) the entries own, of any kind, but ``besides``'."""
        owned: set[str] = set()
        for entry in self._async_current_entries(include_ignore=False):
            kind = self.kind_of(entry)
            if entry is besides or kind is None:
                continue
            owned |= kind.meter_ids(entry.data, entry.unique_id)
        return frozenset(owned)

    def _abort_if_meters_configured(
        self, meter_ids: frozenset[str], *, besides: SmartMeterConfigEntry | None = None
    ) -> None:
        """Abort when another entry (of any kind) already owns one of these devices."""
        if meter_ids & self.owned_meter_ids(besides=besides):
            raise AbortFlow("already_configured")

    async def async_create_meter(
        self,
        key: str,
        *,
        title: str,
        data: Mapping[str, Any],
        unique_id: str | None,
        options: Mapping[str, Any] | None = None,
        updates: dict[str, Any] | None = None,
    ) -> ConfigFlowResult:
        """Save a new meter, unless it (or one of its devices) is configured already.

        ``updates``: what an existing entry with the same unique id takes from this
        flow (a meter found at a new address).
        """
        if unique_id is not None:
            await self.async_set_meter_id(unique_id, updates)
        saved = {CONF_METER_TYPE: key, **data}
        self._abort_if_meters_configured(self.kinds[key].meter_ids(saved, unique_id))
        return self.async_create_entry(
            title=title, data=saved, options=dict(options or {})
        )

    async def async_update_meter(
        self,
        entry: SmartMeterConfigEntry,
        data: Mapping[str, Any],
        *,
        unique_id: str | None = None,
        same_meter: bool = True,
    ) -> ConfigFlowResult:
        """Save new settings into ``entry`` (reconfigure, re-authenticate) and reload.

        ``same_meter``: ``unique_id`` must be the entry's (another meter aborts);
        otherwise the entry takes the new unique id (a gateway with other meters).
        """
        new_id = unique_id or entry.unique_id
        if unique_id is not None and same_meter:
            await self.async_set_unique_id(unique_id, raise_on_progress=False)
            self._abort_if_unique_id_mismatch(reason="wrong_meter")
        kind = self.kinds[entry.data[CONF_METER_TYPE]]
        saved = {**data, CONF_METER_TYPE: kind.key}
        self._abort_if_meters_configured(kind.meter_ids(saved, new_id), besides=entry)
        return self.async_save_settings(entry, saved, unique_id=new_id)

    async def async_set_meter_id(
        self, unique_id: str, updates: dict[str, Any] | None = None
    ) -> None:
        """Take ``unique_id``; abort if an entry has it (it takes ``updates`` first).

        A loaded entry whose settings change reloads through its update listener; one
        waiting to retry its setup has none, and is set up again at once.
        """
        entry = await self.async_set_unique_id(unique_id)
        self._abort_if_unique_id_configured(
            updates=updates,
            reload_on_update=entry is not None and not entry.update_listeners,
        )

    def async_save_settings(
        self,
        entry: SmartMeterConfigEntry,
        data: Mapping[str, Any],
        *,
        unique_id: str | None = None,
    ) -> ConfigFlowResult:
        """Save ``data`` into ``entry``, which then runs with it, and finish.

        A loaded entry reloads through its update listener when its settings changed;
        one that is not (its setup failed) has no listener, and is set up again.
        """
        hass = self.hass
        hass.config_entries.async_update_entry(
            entry, data=data, unique_id=unique_id or entry.unique_id
        )
        if not entry.update_listeners:
            hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(
            reason="reconfigure_successful"
            if self.source == SOURCE_RECONFIGURE
            else "reauth_successful"
        )
