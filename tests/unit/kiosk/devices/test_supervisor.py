"""The supervisor: one thread per driver, failures restart it with backoff, a hung driver is replaced.

The drivers here are scripted stand-ins for a device (the real drivers run against the real
simulators in tests/integration/kiosk); what is tested is the Worker around them: states and the
driver_state events, replies, queued commands, restarts, hang detection, stopping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from kiosk.devices.protocol import FingerVerifyResult, Reply, Request, make_request
from kiosk.devices.supervisor import CommandFailed, DeviceFailure, Driver, Emit, Job, Worker

WAIT_S = 20.0  # generous: only a hang would reach it


def eventually(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


class Script:
    """What the next drivers do; shared by every driver instance the factory makes."""

    def __init__(self) -> None:
        self.open_failures: list[Exception] = []
        self.poll_failure: Exception | None = None
        self.handle: Callable[[Request], BaseModel] = lambda r: FingerVerifyResult(matched=True, score=1, page=1)
        self.made: list[ScriptedDriver] = []
        self.details: Callable[[], dict[str, Any]] = dict


class ScriptedDriver(Driver):
    poll_interval_s = 0.01

    def __init__(self, script: Script, emit: Emit) -> None:
        self.script = script
        self.emit = emit
        self.opened = False
        self.closed = 0
        self.polls = 0
        script.made.append(self)

    def open(self) -> None:
        if self.script.open_failures:
            raise self.script.open_failures.pop(0)
        self.opened = True

    def close(self) -> None:
        self.closed += 1

    def poll(self) -> None:
        self.polls += 1
        failure, self.script.poll_failure = self.script.poll_failure, None
        if failure is not None:
            raise failure
        self.emit("card_read_failed", {"reason": f"poll {self.polls}"})

    def handle(self, request: Request, deadline: float) -> BaseModel:
        return self.script.handle(request)

    def details(self) -> dict[str, Any]:
        return self.script.details()


class Harness:
    def __init__(self, script: Script | None, **options: Any) -> None:
        self.script = script
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.replies: list[tuple[Job, Reply]] = []
        self.lock = threading.Lock()
        factory = None if script is None else (lambda emit: ScriptedDriver(script, emit))
        settings = {"restart_min_s": 0.01, "restart_max_s": 0.04, "stable_s": 60.0, "hang_s": 60.0} | options
        self.worker = Worker(
            "fingerprint",
            factory,
            emit=self._emit,
            done=self._done,
            not_configured="no fingerprint sensor is configured",
            **settings,
        )

    def _emit(self, name: str, fields: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((name, fields))

    def _done(self, job: Job, reply: Reply) -> None:
        with self.lock:
            self.replies.append((job, reply))

    def states(self) -> list[tuple[str, str | None]]:
        with self.lock:
            return [(f["state"], f["reason"]) for n, f in self.events if n == "driver_state"]

    def submit(self, request_id: str, *, deadline_s: float = WAIT_S) -> Reply | None:
        request = make_request(request_id, "verify_finger", {"page": 1})
        return self.worker.submit(Job(request, time.monotonic() + deadline_s, route=request_id))

    def reply(self, request_id: str) -> Reply:
        def find() -> Reply | None:
            with self.lock:
                return next((r for j, r in self.replies if j.route == request_id), None)

        found: Reply = eventually(find, f"a reply to {request_id}")
        return found


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(script: Script | None, **options: Any) -> Harness:
        h = Harness(script, **options)
        made.append(h)
        h.worker.start()
        return h

    yield make
    for h in made:
        h.worker.stop(timeout=WAIT_S)


def test_a_device_not_configured_is_disabled_and_says_so(harness) -> None:
    h = harness(None)
    assert h.worker.state == "disabled"
    refused = h.submit("r1")
    assert refused is not None and refused.error is not None
    assert refused.error.code == "device_unavailable"
    assert refused.error.message == "verify_finger: no fingerprint sensor is configured"
    status = h.worker.status()
    assert (status.configured, status.state, status.reason) == (
        False,
        "disabled",
        "no fingerprint sensor is configured",
    )


def test_an_opened_driver_is_ok_polls_and_answers_commands(harness) -> None:
    h = harness(Script())
    eventually(lambda: h.worker.state == "ok", "ok")
    assert h.states() == [("ok", None)]  # it starts in "starting"
    eventually(lambda: any(n == "card_read_failed" for n, _ in h.events), "an event from poll")
    assert h.submit("r1") is None
    reply = h.reply("r1")
    assert reply.ok and reply.result == {"matched": True, "score": 1, "page": 1}


def test_a_refusal_is_an_error_reply_and_the_driver_stays_up(harness) -> None:
    script = Script()

    def refuse(request: Request) -> BaseModel:
        raise CommandFailed("no_finger", "verify_finger: no finger placed on the sensor within 10 s", {"x": 1})

    script.handle = refuse
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.submit("r1")
    reply = h.reply("r1")
    assert reply.error is not None
    assert (reply.error.code, reply.error.message, reply.error.details) == (
        "no_finger",
        "verify_finger: no finger placed on the sensor within 10 s",
        {"x": 1},
    )
    assert h.worker.state == "ok"
    assert len(script.made) == 1


def test_a_device_that_does_not_open_is_retried_until_it_does(harness) -> None:
    script = Script()
    script.open_failures = [OSError("port /dev/ttyUSB0: does not exist"), DeviceFailure("SAM status: self-test failed")]
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok after two failed opens")
    assert h.states() == [
        ("failed", "port /dev/ttyUSB0: does not exist"),
        ("restarting", None),
        ("failed", "SAM status: self-test failed"),
        ("restarting", None),
        ("ok", None),
    ]
    assert h.worker.status().restarts == 2
    assert [d.closed for d in script.made] == [1, 1, 0]


def test_a_failure_while_running_closes_the_driver_and_opens_a_fresh_one(harness) -> None:
    script = Script()
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok")
    script.poll_failure = DeviceFailure("port /dev/ttyUSB0: stopped working (EIO)")
    eventually(lambda: len(script.made) == 2 and h.worker.state == "ok", "a second driver, ok")
    assert ("failed", "port /dev/ttyUSB0: stopped working (EIO)") in h.states()
    assert script.made[0].closed >= 1
    assert h.states()[-2:] == [("restarting", None), ("ok", None)]


def test_an_unexpected_exception_in_a_command_fails_it_and_restarts_the_driver(harness) -> None:
    script = Script()
    crashes = [True]

    def crash(request: Request) -> BaseModel:
        if crashes.pop() if crashes else False:
            raise ZeroDivisionError("division by zero")
        return FingerVerifyResult(matched=False, score=0, page=1)

    script.handle = crash
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.submit("r1")
    reply = h.reply("r1")
    assert reply.error is not None
    assert reply.error.code == "device_unavailable"
    assert reply.error.message == "verify_finger: the fingerprint failed (division by zero); restarting the driver"
    eventually(lambda: len(script.made) == 2 and h.worker.state == "ok", "restarted")
    h.submit("r2")
    assert h.reply("r2").ok


def test_commands_are_refused_at_once_while_the_driver_is_down(harness) -> None:
    script = Script()
    script.open_failures = [OSError("gone")] * 1000
    h = harness(script, restart_min_s=5.0, restart_max_s=5.0)
    eventually(lambda: h.worker.state == "failed", "failed")
    refused = h.submit("r1")
    assert refused is not None and refused.error is not None
    assert refused.error.message == "verify_finger: the fingerprint driver failed (gone); it is being restarted"
    assert refused.error.details == {"state": "failed"}


def test_commands_queued_behind_a_failing_one_are_answered_not_forgotten(harness) -> None:
    script = Script()
    release = threading.Event()

    def slow_then_fail(request: Request) -> BaseModel:
        if request.id == "r1":
            release.wait(WAIT_S)
            raise DeviceFailure("sensor unplugged")
        return FingerVerifyResult(matched=True, score=1, page=1)

    script.handle = slow_then_fail
    h = harness(script, restart_min_s=1.0, restart_max_s=1.0)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.submit("r1")
    eventually(lambda: h.worker.status().busy == "verify_finger", "busy with r1")
    assert h.submit("r2") is None
    release.set()
    first = h.reply("r1")
    assert first.error is not None and first.error.code == "device_unavailable"
    second = h.reply("r2")
    assert second.error is not None
    assert second.error.message == "verify_finger: the fingerprint driver failed (sensor unplugged)"


def test_a_command_whose_deadline_passed_in_the_queue_is_not_started(harness) -> None:
    script = Script()
    ran: list[str] = []

    def record(request: Request) -> BaseModel:
        ran.append(request.id)
        return FingerVerifyResult(matched=True, score=1, page=1)

    script.handle = record
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.submit("late", deadline_s=-1.0)
    h.submit("fine")
    h.reply("fine")
    assert ran == ["fine"]


def test_a_hung_driver_is_replaced_and_its_old_thread_can_no_longer_publish(harness) -> None:
    script = Script()
    stuck = threading.Event()
    release = threading.Event()

    def hang(request: Request) -> BaseModel:
        if request.id == "r1":
            stuck.set()
            release.wait(WAIT_S)
            script.made[0].emit("card_read_failed", {"reason": "from the abandoned thread"})
        return FingerVerifyResult(matched=True, score=1, page=1)

    script.handle = hang
    h = harness(script, hang_s=0.05)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.submit("r1", deadline_s=2.0)
    stuck.wait(WAIT_S)
    assert not h.worker.check_hung()  # a command is hung only once it overran its own deadline by hang_s
    eventually(h.worker.check_hung, "declared hung")
    failed = [reason for state, reason in h.states() if state == "failed"]
    assert failed and failed[0] is not None and failed[0].startswith("not responding: inside verify_finger for")
    eventually(lambda: len(script.made) == 2 and h.worker.state == "ok", "a new driver thread")
    h.submit("r2")
    assert h.reply("r2").ok
    release.set()
    eventually(lambda: script.made[0].closed >= 1, "the abandoned driver closed once its call returned")
    reasons = [f.get("reason") for n, f in h.events if n == "card_read_failed"]
    assert "from the abandoned thread" not in reasons


def test_status_shows_what_the_driver_is_doing_and_survives_broken_details(harness) -> None:
    script = Script()
    release = threading.Event()

    def wait(request: Request) -> BaseModel:
        release.wait(WAIT_S)
        return FingerVerifyResult(matched=True, score=1, page=1)

    def broken() -> dict[str, Any]:
        raise RuntimeError("sensor figures unreadable")

    script.handle = wait
    script.details = broken
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.submit("r1")
    status = eventually(lambda: (s := h.worker.status()).busy and s, "busy")
    assert status.busy == "verify_finger"
    assert status.busy_s is not None and status.busy_s >= 0
    assert status.details == {"error": "details unavailable: sensor figures unreadable"}
    release.set()
    h.reply("r1")


def test_stop_closes_the_driver(harness) -> None:
    script = Script()
    h = harness(script)
    eventually(lambda: h.worker.state == "ok", "ok")
    h.worker.stop(timeout=WAIT_S)
    assert script.made[0].closed == 1
