"""What the API clients (Hostwinds, DigitalOcean, Mailu) share: a checked credential and API URL,
bounded retries with exponential backoff, the rule for whether a failed request may have reached the
API, and waiting for a state by polling. Each client keeps what its API does differently: how a
request is sent and its answer read, which requests are safe to repeat, and its errors."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import ClassVar, TypedDict, TypeVar

import requests

T = TypeVar("T")

# A connection that was never made: the request cannot have reached the API.
_NOT_CONNECTED = ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError", "Connection refused")


def never_sent(exc: requests.RequestException) -> bool:
    """True when a failed request certainly did not reach the API (no connection was made), so even
    a request that is not safe to repeat may be sent again."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.InvalidURL):
        return True
    return isinstance(exc, requests.ConnectionError) and any(m in repr(exc) for m in _NOT_CONNECTED)


class Retry(Exception):
    """An attempt that may be made again. `reason` goes to the log and into the final error; `wait`
    is what the API asked for (Retry-After), else the backoff decides; `final` is the error to raise
    when it was the last attempt (else the client's own "no usable answer")."""

    def __init__(self, reason: str, *, wait: float | None = None, final: Exception | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait, self.final = reason, wait, final


class ApiOptions(TypedDict, total=False):
    """How a client sends and waits, each with its client's default: timeout (connect, read),
    attempts in all, backoff (doubled each attempt, at most max_backoff), poll_interval while
    waiting for a state, the HTTP session, and the sleep and clock (a test's fakes)."""

    timeout: float | tuple[float, float]
    attempts: int
    backoff: float
    max_backoff: float
    poll_interval: float
    session: requests.Session | None
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]


class ApiClient:
    """The base of an API client. A subclass names its service and configuration error,
    sends each request through `_retrying` and says in `_gave_up` what to raise after the last
    attempt; its defaults for `ApiOptions` are class attributes."""

    service: ClassVar[str]  # as users know it: "Hostwinds"
    configuration_error: ClassVar[type[Exception]]  # nothing was sent: a setting is wrong
    log: ClassVar[logging.Logger]
    default_max_backoff: ClassVar[float] = 30.0
    default_poll_interval: ClassVar[float] = 1.0

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        attempts: int = 3,
        backoff: float = 1.0,
        max_backoff: float | None = None,
        poll_interval: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(api_url, str) or not api_url.startswith(("https://", "http://")):
            raise self.configuration_error(f"api_url must be an http(s) URL, got {api_url!r}.")
        if attempts < 1:
            raise self.configuration_error("attempts must be at least 1.")
        self.api_url = api_url
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = self.default_max_backoff if max_backoff is None else max_backoff
        self.poll_interval = self.default_poll_interval if poll_interval is None else poll_interval
        self._session = session or self._new_session()
        self._sleep = sleep
        self._monotonic = monotonic
        #: Requests sent, by what was asked (each retry counts): what a refresh costs.
        self.calls: Counter[str] = Counter()

    def _new_session(self) -> requests.Session:
        """The HTTP session of a client not given one."""
        return requests.Session()

    def __repr__(self) -> str:  # never the credential
        return f"{type(self).__name__}(api_url={self.api_url!r})"

    @classmethod
    def checked_credential(cls, value: object, missing: str, malformed: str) -> str:
        """The API key or token, stripped; `missing` or `malformed` (spaces, control characters)
        raised as the configuration error."""
        credential = value.strip() if isinstance(value, str) else ""
        if not credential:
            raise cls.configuration_error(missing)
        if not credential.isprintable() or any(ch.isspace() for ch in credential):
            raise cls.configuration_error(malformed)
        return credential

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """`attempt()`'s answer; a `Retry` it raises is tried again after the backoff, up to
        `attempts` in all. Anything else it raises is final."""
        last = ""
        for number in range(1, self.attempts + 1):
            self.calls[what] += 1
            started = self._monotonic()
            try:
                answer = attempt()
            except Retry as retry:
                last = retry.reason
                self.log.warning("%s %s attempt %d/%d: %s", self.service.lower(), what, number, self.attempts,
                                 last)
                if number == self.attempts and retry.final is not None:
                    raise retry.final from None
                if number < self.attempts:
                    wait = self.backoff * 2 ** (number - 1) if retry.wait is None else max(0.0, retry.wait)
                    self._sleep(min(self.max_backoff, wait))
            else:
                self.log.debug("%s %s ok in %.2fs", self.service.lower(), what, self._monotonic() - started)
                return answer
        raise self._gave_up(what, last)

    def _gave_up(self, what: str, last: str) -> Exception:
        """The error after the last attempt also asked to be retried (`last`: its reason)."""
        raise NotImplementedError

    def _polled(self, read: Callable[[], T], timeout: float, *, first: T | None = None) -> Iterator[T]:
        """`first` (else `read()`) at once, then `read()` every poll_interval until `timeout` has
        passed (the last read at or after it, never a sleep past it). The caller stops at what it
        waits for and, when the reads run out, raises its own timeout."""
        deadline = self._monotonic() + timeout
        value = read() if first is None else first
        while True:
            yield value
            if self._monotonic() >= deadline:
                return
            self._sleep(min(self.poll_interval, max(0.0, deadline - self._monotonic())))
            value = read()
