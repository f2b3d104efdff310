"""One driver per device kind; `build_factories` makes the ones the configuration asks for.

Each driver module is imported only when its device is configured, so a kiosk without a camera
does not load OpenCV or the face models, and one without serial devices does not need pyserial.
"""

from __future__ import annotations

from kiosk.devices.config import DevicesConfig
from kiosk.devices.supervisor import DriverFactory, Emit

NOT_CONFIGURED = {
    "idcard": "no ID-card reader is configured ([devices.idcard] in the kiosk's file)",
    "fingerprint": "no fingerprint sensor is configured ([devices.fingerprint] in the kiosk's file)",
    "camera": "no camera is configured ([devices.camera] in the kiosk's file)",
    "microphone": "no microphone is configured ([devices.microphone] in the kiosk's file)",
}


def build_factories(config: DevicesConfig) -> dict[str, DriverFactory | None]:
    """A factory per configured device (None for the others); each call makes a fresh driver."""
    factories: dict[str, DriverFactory | None] = dict.fromkeys(NOT_CONFIGURED)
    if config.idcard is not None:
        from kiosk.devices.drivers.idcard import IdCardDriver

        idcard = config.idcard

        def make_idcard(emit: Emit) -> IdCardDriver:
            return IdCardDriver(idcard, emit)

        factories["idcard"] = make_idcard
    if config.fingerprint is not None:
        from kiosk.devices.drivers.fingerprint import FingerprintDriver

        fingerprint = config.fingerprint

        def make_fingerprint(emit: Emit) -> FingerprintDriver:
            return FingerprintDriver(fingerprint, emit)

        factories["fingerprint"] = make_fingerprint
    if config.camera is not None:
        from kiosk.devices.drivers.camera import CameraDriver, PipelineHolder

        camera = config.camera
        pipelines = PipelineHolder(config.vision if config.video.face_pipeline else None)

        def make_camera(emit: Emit) -> CameraDriver:
            return CameraDriver(camera, config.video, pipelines, emit)

        factories["camera"] = make_camera
    if config.microphone is not None:
        from kiosk.devices.drivers.microphone import MicrophoneDriver
        from kiosk.devices.recording import RecordingStore

        microphone = config.microphone
        store = RecordingStore(config.recordings_dir, config.recording.keep)

        def make_microphone(emit: Emit) -> MicrophoneDriver:
            return MicrophoneDriver(microphone, config.recording, store, emit)

        factories["microphone"] = make_microphone
    return factories
