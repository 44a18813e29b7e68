"""What polling did in the last hour, installation-wide (for system health)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

WINDOW_S: Final = 3600.0
POLL_LOG: HassKey[PollLog] = HassKey(f"{DOMAIN}_poll_log")


@dataclass(frozen=True, slots=True)
class Poll:
    """One poll of one entry."""

    at: float  # when it ended (monotonic seconds)
    duration: float  # reading the meter, seconds
    waited: float  # waiting for a free poll slot, seconds
    ok: bool


@dataclass(frozen=True, slots=True)
class PollSummary:
    """The last hour's polls, as the head-end's polling status shows them."""

    polls: int
    failed: int
    slowest_s: float
    longest_wait_s: float


class PollLog:
    """The polls of the last hour, every entry together (a bounded, pruned deque)."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        """Empty."""
        self.window_s = window_s
        self._polls: deque[Poll] = deque()

    def add(self, duration: float, waited: float, ok: bool) -> None:
        """Record a poll that just ended."""
        now = time.monotonic()
        self._polls.append(Poll(now, duration, waited, ok))
        self._prune(now)

    def _prune(self, now: float) -> None:
        while self._polls and self._polls[0].at < now - self.window_s:
            self._polls.popleft()

    def summary(self) -> PollSummary:
        """The polls of the last hour."""
        self._prune(time.monotonic())
        polls = self._polls
        return PollSummary(
            polls=len(polls),
            failed=sum(not poll.ok for poll in polls),
            slowest_s=max((poll.duration for poll in polls), default=0.0),
            longest_wait_s=max((poll.waited for poll in polls), default=0.0),
        )


def poll_log(hass: HomeAssistant) -> PollLog:
    """The installation's poll log."""
    return hass.data.setdefault(POLL_LOG, PollLog())
