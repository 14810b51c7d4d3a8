"""How long a download may take: timeouts, retries, an overall deadline, stall detection, ``Retry-After``.

Module settings (the defaults) and the environment variables that override them, read at each download:

- ``DEADLINE_S`` = 3 h, ``WSSS_ZOO_DOWNLOAD_DEADLINE``: seconds one source may take in all (attempts,
  waits, transfer); 0 turns it off.
- ``MIN_RATE`` = 1024, ``WSSS_ZOO_DOWNLOAD_MIN_RATE``: bytes/s a transfer must average over each window of
  ``STALL_WINDOW_S`` = 60 s (``WSSS_ZOO_DOWNLOAD_STALL_WINDOW``), else it is a stall, retried (resumed);
  0 turns it off.
- ``RETRY_AFTER_MAX_S`` = 120, ``WSSS_ZOO_DOWNLOAD_MAX_WAIT``: the longest ``Retry-After`` (429/503)
  honoured; a server asking for more is given up on with a message saying when to try again.
- ``TIMEOUT`` = (10, 60): (connect, read) seconds of each request; ``RETRIES`` = 3 attempts per source,
  ``BACKOFF_S`` = 1: the sleep before retry i is ``BACKOFF_S * 2**i`` unless the server says otherwise.

A server that sends 1 byte/s never trips a read timeout; the minimum rate catches it within one window
and the deadline bounds everything, including the waits a server asks for.
"""
from __future__ import annotations

import dataclasses
import email.utils
import math
import os
import time
from typing import Optional

from ..errors import ConfigError, DownloadError

TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
RETRIES = 3  # attempts per source for connection errors, stalls, 429 and 5xx
BACKOFF_S = 1.0  # sleep before retry i is BACKOFF_S * 2**i (unless the server sends Retry-After)
DEADLINE_S = 3 * 3600.0
MIN_RATE = 1024.0
STALL_WINDOW_S = 60.0
RETRY_AFTER_MAX_S = 120.0

ENV_DEADLINE = "WSSS_ZOO_DOWNLOAD_DEADLINE"
ENV_MIN_RATE = "WSSS_ZOO_DOWNLOAD_MIN_RATE"
ENV_STALL_WINDOW = "WSSS_ZOO_DOWNLOAD_STALL_WINDOW"
ENV_MAX_WAIT = "WSSS_ZOO_DOWNLOAD_MAX_WAIT"

sleep = time.sleep  # one place to wait (tests record the waits instead)
clock = time.monotonic


class Transient(Exception):
    """A failure worth retrying (connection cut, stall, 429/5xx); the ``.part`` is kept.

    ``retry_after``: the seconds the server asked to wait (``Retry-After``), else None.
    """

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


def _seconds(var: str, default: float, *, positive: bool = False) -> float:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "a number > 0" if positive else "a number >= 0 (0 turns it off)"
        raise ConfigError(f"{var}={raw!r} is not {need}")
    return value


@dataclasses.dataclass(frozen=True)
class Limits:
    deadline_s: float
    min_rate: float
    stall_window_s: float
    retry_after_max_s: float

    @classmethod
    def current(cls) -> "Limits":
        """The module settings, overridden by the environment (validated: a bad value is a ConfigError)."""
        return cls(_seconds(ENV_DEADLINE, DEADLINE_S), _seconds(ENV_MIN_RATE, MIN_RATE),
                   _seconds(ENV_STALL_WINDOW, STALL_WINDOW_S, positive=True),
                   _seconds(ENV_MAX_WAIT, RETRY_AFTER_MAX_S))


class Budget:
    """The time one source may take: the overall deadline, and per-request timeouts that never pass it."""

    def __init__(self, limits: Limits, what: str):
        self.limits = limits
        self.what = what
        self.start = clock()

    def remaining(self) -> Optional[float]:
        if not self.limits.deadline_s:
            return None
        return self.limits.deadline_s - (clock() - self.start)

    def check(self, progress: str = "") -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise DownloadError(
                f"{self.what} did not finish within {self.limits.deadline_s:g} s ({ENV_DEADLINE}){progress}; "
                "a partial .part file is kept and resumed next time")

    def timeout(self) -> tuple:
        """(connect, read) for the next request, each at most the time left (and at least 0.1 s)."""
        left = self.remaining()
        if left is None:
            return TIMEOUT
        return tuple(max(0.1, min(t, left)) for t in TIMEOUT)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or give up now when the deadline comes first."""
        left = self.remaining()
        if left is not None and seconds >= left:
            self.check()  # raises if already past
            raise DownloadError(f"{self.what}: the next attempt would start after the deadline of "
                                f"{self.limits.deadline_s:g} s ({ENV_DEADLINE}); a partial .part file is kept")
        if seconds > 0:
            sleep(seconds)


class RateWatch:
    """Stall detection: fewer than ``min_rate * window`` bytes in any window of ``stall_window_s`` seconds."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.window_start = clock()
        self.window_bytes = 0

    def update(self, received: int) -> None:
        """``received``: bytes of this response so far. Raises :class:`Transient` on a stall."""
        if not self.limits.min_rate:
            return
        now = clock()
        if now - self.window_start < self.limits.stall_window_s:
            return
        got = received - self.window_bytes
        need = self.limits.min_rate * (now - self.window_start)
        if got < need:
            raise Transient(f"stalled: {got} bytes in {now - self.window_start:.0f} s, below the minimum of "
                            f"{self.limits.min_rate:g} bytes/s ({ENV_MIN_RATE})")
        self.window_start, self.window_bytes = now, received


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds of a ``Retry-After`` header (delay-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    import datetime

    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def with_retries(attempt, budget: Budget, limits: Limits):
    """Run ``attempt()`` up to :data:`RETRIES` times on :class:`Transient` failures, waiting as asked."""
    last: Exception = DownloadError("no attempt made")
    for i in range(RETRIES):
        budget.check()
        try:
            return attempt()
        except Transient as exc:
            last = exc
            if i + 1 == RETRIES:
                break
            wait = exc.retry_after if exc.retry_after is not None else BACKOFF_S * 2 ** i
            if exc.retry_after is not None and exc.retry_after > limits.retry_after_max_s:
                raise DownloadError(
                    f"{budget.what}: {exc}; the server asks to retry after {exc.retry_after:g} s (Retry-After), "
                    f"longer than the {limits.retry_after_max_s:g} s wsss_zoo waits ({ENV_MAX_WAIT}); "
                    "try again later") from None
            budget.wait(wait)
    raise DownloadError(f"gave up after {RETRIES} attempts ({last}); a partial .part file, if any, is kept "
                        "and resumed next time")
