"""One thread per device, and a supervisor that reopens a device that failed, with backoff.

A `Driver` wraps one device: `open`, `poll` (periodic work that publishes events), `handle` (one
command), `close`. A `Worker` owns one driver and runs it on its own thread: it opens it, serves
commands queued by the daemon's loop and polls in between. Whatever a driver raises, other than
`CommandFailed` (a refusal that leaves the device fine), counts as the device failing: the driver
is closed, the state goes to `failed` with the reason, queued commands are answered at once, and
after a wait (doubling from `restart_min_s` to `restart_max_s`; back to the first wait once a
driver stayed up `stable_s`) a fresh driver is opened (`restarting`, then `ok`).

A driver stuck inside one call for `hang_s` (counted from a command's own deadline, so a long wait
for a person is not a hang) is declared hung: its thread is abandoned (a Python thread cannot be
killed; it exits when the call returns) and a new thread with a new driver takes over. Each
thread carries a generation number, and an abandoned generation can neither publish events nor
take commands.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from kiosk.devices.protocol import (
    DeviceProtocolError,
    DriverStateName,
    DriverStatus,
    ErrorCode,
    Reply,
    Request,
    error_reply,
    ok_reply,
)
from peripherals.camera.backoff import Backoff

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]
"""How a driver publishes an event: `emit("card_inserted", {"card": {...}})`."""

# How often an idle worker thread wakes to see whether it should stop.
_WAKE_S = 0.1


class CommandFailed(Exception):
    """A command the device could not carry out while the device itself is fine (no finger, face refused, …)."""

    def __init__(self, code: ErrorCode, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.details = None if details is None else dict(details)


class DeviceFailure(Exception):
    """The device is gone or broken; the supervisor closes the driver and reopens it later."""


class Driver(ABC):
    """One device. All methods but `details` run on the worker's thread only."""

    poll_interval_s: float = 0.1
    """How long the worker waits for a command before calling `poll` again."""

    @abstractmethod
    def open(self) -> None:
        """Open the device and check it answers; raise (anything) when it cannot be used."""

    @abstractmethod
    def close(self) -> None:
        """Release the device; must not raise, and must work on a half-opened or failed device."""

    def poll(self) -> None:  # noqa: B027 - optional: a device with nothing to watch keeps this one
        """Periodic work between commands (watch for a card, a finger, frames); raise when the device failed."""

    @abstractmethod
    def handle(self, request: Request, deadline: float) -> BaseModel:
        """Carry out one command before `deadline` (time.monotonic()); CommandFailed for a refusal."""

    def details(self) -> dict[str, Any]:
        """Health figures for `status`, from any thread, without waiting on the device."""
        return {}


DriverFactory = Callable[[Emit], Driver]
"""Makes a fresh driver (one per open attempt); the driver publishes through the Emit it is given."""


@dataclass
class Job:
    """A command queued for a driver, with its deadline and what the daemon needs to route the reply."""

    request: Request
    deadline: float
    route: Any = None


@dataclass
class _Activity:
    what: str
    since: float
    command: bool
    deadline: float | None = None
    """A command's own deadline: it counts as hung only `hang_s` after that, however long it may wait."""


@dataclass
class _Shared:
    state: DriverStateName
    reason: str | None
    since: float
    restarts: int = 0
    generation: int = 0
    activity: _Activity | None = None
    driver: Driver | None = None
    jobs: deque[Job] = field(default_factory=deque)


def describe_failure(exc: BaseException) -> str:
    """A one-line reason for a driver failure: the exception's message, or its type when it has none."""
    text = str(exc).strip()
    return text if text else type(exc).__name__


class Worker:
    """Runs one driver on its own thread and restarts it when it fails."""

    def __init__(
        self,
        name: str,
        factory: DriverFactory | None,
        *,
        emit: Emit,
        done: Callable[[Job, Reply], None],
        restart_min_s: float = 0.5,
        restart_max_s: float = 10.0,
        stable_s: float = 10.0,
        hang_s: float = 60.0,
        not_configured: str = "",
    ) -> None:
        self.name = name
        self._factory = factory
        self._emit_raw = emit
        self._done = done
        self._restart = (restart_min_s, restart_max_s)
        self._stable_s = stable_s
        self._hang_s = hang_s
        self._not_configured = not_configured or f"no {name} is configured"
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        state: DriverStateName = "starting" if factory is not None else "disabled"
        reason = None if factory is not None else self._not_configured
        self._shared = _Shared(state=state, reason=reason, since=time.time())
        self._threads: list[threading.Thread] = []

    @property
    def configured(self) -> bool:
        """Whether there is a device to run."""
        return self._factory is not None

    @property
    def state(self) -> DriverStateName:
        """disabled, starting, ok, failed or restarting."""
        with self._cond:
            return self._shared.state

    # --- the daemon's side ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the driver thread (nothing to do for a device that is not configured)."""
        if self._factory is None:
            return
        with self._cond:
            generation = self._shared.generation
        self._spawn(generation, first=True)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread(s) and wait for them: the driver is closed when its current call returns."""
        self.request_stop()
        self.join(timeout)

    def request_stop(self) -> None:
        """Ask the thread(s) to stop, without waiting."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` s for the thread(s) to end."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s: driver thread still inside a device call after %.1f s; leaving it", self.name, timeout)

    def submit(self, job: Job) -> Reply | None:
        """Queue a command; returns an error reply at once when the driver cannot take commands now."""
        request = job.request
        with self._cond:
            shared = self._shared
            if shared.state != "ok":
                if shared.state == "disabled":
                    message = f"{request.command}: {self._not_configured}"
                elif shared.state == "failed":
                    message = (
                        f"{request.command}: the {self.name} driver failed ({shared.reason}); it is being restarted"
                    )
                else:
                    message = f"{request.command}: the {self.name} driver is {shared.state}; try again shortly"
                return error_reply(request.id, request.command, "device_unavailable", message, {"state": shared.state})
            shared.jobs.append(job)
            self._cond.notify_all()
        return None

    def status(self) -> DriverStatus:
        """The driver's state, what it is doing, and its health figures."""
        now = time.monotonic()
        with self._cond:
            shared = self._shared
            activity = shared.activity if shared.activity is not None and shared.activity.command else None
            driver = shared.driver
            status = {
                "name": self.name,
                "configured": self.configured,
                "state": shared.state,
                "reason": shared.reason,
                "since": shared.since,
                "restarts": shared.restarts,
                "busy": activity.what if activity else None,
                "busy_s": round(now - activity.since, 3) if activity else None,
            }
        details: dict[str, Any] = {}
        if driver is not None:
            try:
                details = driver.details()
            except Exception as exc:  # a status call must not fail because a driver's figures do
                details = {"error": f"details unavailable: {describe_failure(exc)}"}
        return DriverStatus(**status, details=details)

    def check_hung(self) -> bool:
        """Replace the driver thread if one call overran (its deadline, for a command) by `hang_s`; True when it did."""
        with self._cond:
            shared = self._shared
            activity = shared.activity
            if self._stopping.is_set() or activity is None:
                return False
            now = time.monotonic()
            start = activity.since if activity.deadline is None else max(activity.since, activity.deadline)
            if now - start < self._hang_s:
                return False
            stuck = now - activity.since
            shared.generation += 1
            generation = shared.generation
            shared.activity = None
            shared.driver = None
            reason = f"not responding: inside {activity.what} for {stuck:.0f} s; starting a new driver thread"
        log.error("%s: %s", self.name, reason)
        self._enter_state(generation, "failed", reason)
        self._reject_queued(reason)
        self._spawn(generation, first=False)
        return True

    # --- the driver thread -----------------------------------------------------------------------------

    def _spawn(self, generation: int, *, first: bool) -> None:
        thread = threading.Thread(
            target=self._run, args=(generation, first), name=f"driver-{self.name}-{generation}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _current(self, generation: int) -> bool:
        with self._cond:
            return self._shared.generation == generation and not self._stopping.is_set()

    def _emitter(self, generation: int) -> Emit:
        def emit(event: str, fields: dict[str, Any]) -> None:
            if self._current(generation):
                self._emit_raw(event, fields)

        return emit

    def _enter_state(self, generation: int, state: DriverStateName, reason: str | None = None) -> None:
        with self._cond:
            shared = self._shared
            if shared.generation != generation:
                return
            if state == "restarting":
                shared.restarts += 1
            changed = (shared.state, shared.reason) != (state, reason)
            shared.state, shared.reason = state, reason
            if changed:
                shared.since = time.time()
            restarts = shared.restarts
        if changed:
            self._emit_raw(
                "driver_state", {"driver": self.name, "state": state, "reason": reason, "restarts": restarts}
            )

    def _busy(self, generation: int, what: str | None, *, deadline: float | None = None) -> None:
        with self._cond:
            if self._shared.generation == generation:
                self._shared.activity = (
                    None if what is None else _Activity(what, time.monotonic(), deadline is not None, deadline)
                )

    def _reject_queued(self, reason: str) -> None:
        with self._cond:
            jobs = list(self._shared.jobs)
            self._shared.jobs.clear()
        for job in jobs:
            message = f"{job.request.command}: the {self.name} driver failed ({reason})"
            self._done(job, error_reply(job.request.id, job.request.command, "device_unavailable", message))

    def _run(self, generation: int, first: bool) -> None:
        low, high = self._restart
        backoff = Backoff(low, high)
        while self._current(generation):
            self._enter_state(generation, "starting" if first else "restarting")
            assert self._factory is not None
            try:
                driver = self._factory(self._emitter(generation))
            except Exception as exc:
                log.exception("%s: cannot make the driver", self.name)
                if not self._wait_after_failure(generation, describe_failure(exc), backoff):
                    return
                first = False
                continue
            with self._cond:
                if self._shared.generation == generation:
                    self._shared.driver = driver
            opened = None
            try:
                self._busy(generation, "open")
                driver.open()
                self._busy(generation, None)
                if not self._current(generation):
                    return
                opened = time.monotonic()
                self._enter_state(generation, "ok")
                log.info("%s: ok", self.name)
                self._serve(generation, driver)
                return
            except Exception as exc:
                self._busy(generation, None)
                reason = describe_failure(exc)
                if opened is None:
                    log.warning("%s: cannot open: %s", self.name, reason)
                else:
                    log.warning("%s: failed: %s", self.name, reason, exc_info=not isinstance(exc, DeviceFailure))
                    if time.monotonic() - opened >= self._stable_s:
                        backoff.reset()
                self._close(driver)
                if not self._wait_after_failure(generation, reason, backoff):
                    return
                first = False
            finally:
                if not self._current(generation):
                    self._close(driver)

    def _wait_after_failure(self, generation: int, reason: str, backoff: Backoff) -> bool:
        self._enter_state(generation, "failed", reason)
        self._reject_queued(reason)
        delay = backoff.next()
        with self._cond:
            self._cond.wait_for(lambda: self._stopping.is_set() or self._shared.generation != generation, delay)
        return self._current(generation)

    def _close(self, driver: Driver) -> None:
        with self._cond:
            if self._shared.driver is driver:
                self._shared.driver = None
        try:
            driver.close()
        except Exception:
            log.exception("%s: closing the driver failed", self.name)

    def _serve(self, generation: int, driver: Driver) -> None:
        next_poll = time.monotonic()
        while True:
            with self._cond:
                wait = max(0.0, min(next_poll - time.monotonic(), _WAKE_S))
                self._cond.wait_for(
                    lambda: bool(self._shared.jobs) or self._stopping.is_set() or self._shared.generation != generation,
                    wait,
                )
                if self._stopping.is_set() or self._shared.generation != generation:
                    return
                job = self._shared.jobs.popleft() if self._shared.jobs else None
            if job is not None:
                self._run_job(generation, driver, job)
                # A command may change what polling has to do (a recording just started): poll at once.
                next_poll = time.monotonic()
                continue
            if time.monotonic() >= next_poll:
                self._busy(generation, "poll")
                driver.poll()
                self._busy(generation, None)
                next_poll = time.monotonic() + driver.poll_interval_s

    def _run_job(self, generation: int, driver: Driver, job: Job) -> None:
        request = job.request
        if time.monotonic() >= job.deadline:
            log.info("%s: %s %s expired in the queue; not started", self.name, request.command, request.id)
            return
        self._busy(generation, request.command, deadline=job.deadline)
        try:
            result = driver.handle(request, job.deadline)
            reply = ok_reply(request, result)
        except CommandFailed as exc:
            reply = error_reply(request.id, request.command, exc.code, exc.message, exc.details)
        except DeviceProtocolError as exc:
            log.error("%s: %s made a result that does not fit the protocol: %s", self.name, request.command, exc)
            reply = error_reply(request.id, request.command, "internal", f"{request.command}: {exc}")
        except Exception as exc:
            reason = describe_failure(exc)
            message = f"{request.command}: the {self.name} failed ({reason}); restarting the driver"
            self._done(job, error_reply(request.id, request.command, "device_unavailable", message))
            raise
        finally:
            self._busy(generation, None)
        self._done(job, reply)
