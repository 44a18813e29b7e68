"""The options form's shared fields: the poll interval, load analytics, appliances."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TimeSelector,
)

from .analysis.appliances import MAX_LEARN_INTERVAL_S, can_learn
from .analytics import (
    ANALYTICS_DEFAULTS,
    CONF_HIGH_DELAY,
    CONF_HIGH_HYSTERESIS,
    CONF_HIGH_THRESHOLD,
    CONF_PHANTOM_THRESHOLD,
    CONF_WINDOW_END,
    CONF_WINDOW_START,
)
from .appliances import APPLIANCE_DOMAINS, CONF_APPLIANCES
from .compat import vol
from .const import MAX_SCAN_INTERVAL_S, MIN_SCAN_INTERVAL_S
from .kind import OptionsError

TOO_SLOW_TO_LEARN: Final = "too_slow_to_learn"


def number_field(maximum: float, unit: str = "W", minimum: float = 0) -> NumberSelector:
    """A number typed into a box, with its unit and range."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement=unit,
        )
    )


def interval_field(options: Mapping[str, Any], default: timedelta) -> dict[Any, Any]:
    """The poll interval, 5 s to 1 h, with the kind's default."""
    return {
        vol.Required(
            CONF_SCAN_INTERVAL,
            default=options.get(CONF_SCAN_INTERVAL, int(default.total_seconds())),
        ): number_field(MAX_SCAN_INTERVAL_S, "s", minimum=MIN_SCAN_INTERVAL_S)
    }


def interval(options: Mapping[str, Any], default: timedelta | None) -> timedelta | None:
    """The poll interval the options set (None: the kind is not polled)."""
    if default is None:
        return None
    seconds = options.get(CONF_SCAN_INTERVAL)
    return timedelta(seconds=seconds) if seconds else default


def analytics_fields(options: Mapping[str, Any]) -> dict[Any, Any]:
    """The load analytics' options, common to every kind of meter."""
    current = {**ANALYTICS_DEFAULTS, **options}
    return {
        vol.Required(
            CONF_WINDOW_START, default=current[CONF_WINDOW_START]
        ): TimeSelector(),
        vol.Required(CONF_WINDOW_END, default=current[CONF_WINDOW_END]): TimeSelector(),
        vol.Required(
            CONF_PHANTOM_THRESHOLD, default=current[CONF_PHANTOM_THRESHOLD]
        ): number_field(100_000),
        vol.Required(
            CONF_HIGH_THRESHOLD, default=current[CONF_HIGH_THRESHOLD]
        ): number_field(1_000_000),
        vol.Required(CONF_HIGH_DELAY, default=current[CONF_HIGH_DELAY]): number_field(
            3600, "s"
        ),
        vol.Required(
            CONF_HIGH_HYSTERESIS, default=current[CONF_HIGH_HYSTERESIS]
        ): number_field(100_000),
    }


def analytics_values(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The load analytics' options as entered (defaults for what the form left out)."""
    return {
        key: user_input.get(key, default) for key, default in ANALYTICS_DEFAULTS.items()
    }


def appliance_fields(options: Mapping[str, Any]) -> dict[Any, Any]:
    """The entities whose power is learned from whole-home power (none by default)."""
    return {
        vol.Optional(
            CONF_APPLIANCES, default=list(options.get(CONF_APPLIANCES) or [])
        ): EntitySelector(
            EntitySelectorConfig(domain=list(APPLIANCE_DOMAINS), multiple=True)
        )
    }


def learns(every: timedelta | None) -> bool:
    """Whether a meter read every ``every`` (None: not polled) can learn appliances.

    A meter that is not polled follows its sources as they change, and its last
    reading counts again while it holds: it can.
    """
    return every is None or can_learn(every.total_seconds())


def appliance_values(
    user_input: Mapping[str, Any], every: timedelta | None
) -> dict[str, Any]:
    """The entities chosen; refused for a meter read too slowly to learn from."""
    chosen = list(dict.fromkeys(user_input.get(CONF_APPLIANCES) or []))
    if chosen and not learns(every):
        raise OptionsError(CONF_APPLIANCES, TOO_SLOW_TO_LEARN)
    return {CONF_APPLIANCES: chosen}


def appliance_placeholders(every: timedelta | None) -> dict[str, str]:
    """What the too-slow text names: the meter's interval and the slowest that learns."""
    return {
        "interval": "-" if every is None else f"{every.total_seconds():g}",
        "max_interval": f"{MAX_LEARN_INTERVAL_S:g}",
    }
