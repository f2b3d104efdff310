"""The fingerprint sensor's driver: an idle finger watch, `enrol_finger` and `verify_finger`.

A template given in a request is written to a scratch page of the sensor's library, compared there
and erased again, so no template stays on the sensor unless the request asked for a page.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any

from pydantic import BaseModel

from kiosk.devices.config import FingerprintSection
from kiosk.devices.protocol import EnrolFingerArgs, FingerEnrolResult, FingerVerifyResult, Request, VerifyFingerArgs
from kiosk.devices.supervisor import CommandFailed, DeviceFailure, Driver, Emit
from peripherals.fingerprint.driver import (
    DeviceGone,
    FingerprintError,
    FingerprintSensor,
    FingerprintTimeout,
    SensorError,
)

# With the idle watch off, how often to check that the sensor still answers.
_LIVENESS_S = 5.0
_ENROL_STEPS = {"pressed 1": ("finger_placed", 1), "lifted": ("finger_removed", 1), "pressed 2": ("finger_placed", 2)}


class FingerprintDriver(Driver):
    """One AS608 / R30x sensor on a serial port."""

    def __init__(self, settings: FingerprintSection, emit: Emit) -> None:
        self.settings = settings
        self._emit = emit
        self.poll_interval_s = settings.watch_interval_s or _LIVENESS_S
        self._sensor: FingerprintSensor | None = None
        self._library_size: int | None = None
        self._placed: bool | None = None

    def open(self) -> None:
        """Open the port, check the password and read the library size."""
        settings = self.settings
        sensor = FingerprintSensor(
            settings.port,
            address=settings.address,
            password=settings.password_number(),
            baudrate=settings.baudrate,
            reply_timeout=settings.reply_timeout_s,
            poll_interval=settings.poll_interval_s,
            retries=settings.retries,
        )
        try:
            parameters = sensor.handshake()
        except BaseException:
            sensor.close()
            raise
        self._sensor = sensor
        self._library_size = parameters.library_size
        scratch = self._scratch_page()
        if scratch >= parameters.library_size:
            raise DeviceFailure(
                f"scratch_page {scratch}: outside the sensor's library of {parameters.library_size} pages"
            )

    def close(self) -> None:
        """Close the port."""
        sensor, self._sensor = self._sensor, None
        if sensor is not None:
            with contextlib.suppress(OSError):
                sensor.close()

    def details(self) -> dict[str, Any]:
        """Port, library size, scratch page, finger on the sensor (as last seen)."""
        return {
            "port": self.settings.port,
            "library_size": self._library_size,
            "scratch_page": self._scratch_page() if self._library_size else None,
            "finger_present": self._placed,
            "watch": self.settings.watch_interval_s > 0,
        }

    def _scratch_page(self) -> int:
        if self.settings.scratch_page is not None:
            return self.settings.scratch_page
        return (self._library_size or 1) - 1

    def _sensor_or_fail(self) -> FingerprintSensor:
        if self._sensor is None:
            raise DeviceFailure(f"{self.settings.port}: not open")
        return self._sensor

    # --- idle watch -------------------------------------------------------------------------------

    def poll(self) -> None:
        """Look for a finger (one GenImg), publishing finger_placed / finger_removed on a change."""
        sensor = self._sensor_or_fail()
        try:
            if self.settings.watch_interval_s <= 0:
                sensor.template_count()
                return
            try:
                sensor.wait_for_lift(timeout=0)
                placed = False
            except FingerprintTimeout as exc:
                if not str(exc).startswith("finger not lifted"):
                    raise
                placed = True
        except FingerprintError as exc:
            raise DeviceFailure(str(exc)) from exc
        if placed != self._placed:
            if self._placed is not None or placed:
                self._emit("finger_placed" if placed else "finger_removed", {"during": "idle"})
            self._placed = placed

    # --- commands ---------------------------------------------------------------------------------

    def handle(self, request: Request, deadline: float) -> BaseModel:
        """enrol_finger or verify_finger; a finger never placed is `no_finger`, a sensor refusal `device_error`."""
        sensor = self._sensor_or_fail()
        args = request.args
        self._placed = None  # whatever the command did with the finger, the watch reports it afresh
        try:
            if isinstance(args, EnrolFingerArgs):
                return self._enrol(sensor, args, deadline)
            if isinstance(args, VerifyFingerArgs):
                return self._verify(sensor, args, deadline)
        except FingerprintTimeout as exc:
            self._still_there(sensor, exc)
            raise CommandFailed("no_finger", f"{request.command}: {exc}") from None
        except SensorError as exc:
            raise CommandFailed("device_error", f"{request.command}: {exc}", {"confirmation": exc.code.name}) from None
        except (DeviceGone, FingerprintError) as exc:
            raise DeviceFailure(str(exc)) from exc
        raise CommandFailed("bad_request", f"{request.command}: not a fingerprint command")

    def _still_there(self, sensor: FingerprintSensor, exc: FingerprintTimeout) -> None:
        # A person who never pressed and a sensor that stopped answering both end in a timeout; ask the
        # sensor something to tell them apart.
        try:
            sensor.template_count()
        except FingerprintError as gone:
            raise DeviceFailure(f"{exc}; the sensor no longer answers ({gone})") from gone

    def _wait_s(self, timeout_s: float, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CommandFailed("timeout", "the command's time ran out before the sensor was asked")
        return min(timeout_s, left)

    def _check_page(self, page: int) -> None:
        size = self._library_size or 0
        if not 0 <= page < size:
            raise CommandFailed("bad_request", f"page {page}: outside the sensor's library, expected 0..{size - 1}")

    def _enrol(self, sensor: FingerprintSensor, args: EnrolFingerArgs, deadline: float) -> FingerEnrolResult:
        keep = args.page is not None
        page = args.page if args.page is not None else self._scratch_page()
        self._check_page(page)

        def progress(step: str) -> None:
            event, number = _ENROL_STEPS[step]
            self._emit(event, {"during": "enrol", "step": number})

        try:
            # Each of the three waits may take up to timeout_s; the deadline bounds them together.
            sensor.enrol(page, timeout=self._wait_s(args.timeout_s, deadline), progress=progress)
            template = sensor.upload_template(page)
        finally:
            if not keep:
                self._erase(sensor, page)
        return FingerEnrolResult(
            page=page if keep else None,
            template=template,
            template_sha256=hashlib.sha256(template).hexdigest(),
            size=len(template),
        )

    def _verify(self, sensor: FingerprintSensor, args: VerifyFingerArgs, deadline: float) -> FingerVerifyResult:
        wait = self._wait_s(args.timeout_s, deadline)
        if args.page is not None:
            self._check_page(args.page)
            result = sensor.verify(args.page, timeout=wait)
            return FingerVerifyResult(matched=result.matched, score=result.score, page=args.page)
        assert args.template is not None
        page = self._scratch_page()
        try:
            sensor.download_template(page, args.template)
            result = sensor.verify(page, timeout=wait)
        finally:
            self._erase(sensor, page)
        return FingerVerifyResult(matched=result.matched, score=result.score, page=None)

    def _erase(self, sensor: FingerprintSensor, page: int) -> None:
        with contextlib.suppress(SensorError):  # nothing stored there
            sensor.delete(page)
