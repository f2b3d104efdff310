"""The centre's rules the flows apply (tries, thresholds, timeouts) and the context every step receives."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from uuid import UUID, uuid5

CHINA = timezone(timedelta(hours=8), "CST")
"""China Standard Time: ID-card expiry dates are local dates (no daylight saving since 1991)."""


@dataclass(frozen=True)
class PinHash:
    """A staff PIN kept as PBKDF2-SHA256, never in clear: `PinHash.make("4711", salt)` for the configuration."""

    salt: bytes
    digest: bytes
    iterations: int = 200_000

    @classmethod
    def make(cls, pin: str, salt: bytes, iterations: int = 200_000) -> PinHash:
        """Hash a PIN (the runtime makes the salt with os.urandom)."""
        if len(salt) < 8:
            raise ValueError(f"PIN salt: at least 8 bytes, got {len(salt)}")
        return cls(salt, hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations), iterations)

    def matches(self, pin: str) -> bool:
        """Whether `pin` is the PIN, in constant time."""
        got = hashlib.pbkdf2_hmac("sha256", pin.encode(), self.salt, self.iterations)
        return hmac.compare_digest(got, self.digest)


@dataclass(frozen=True)
class Policy:
    """Limits and thresholds; the runtime fills the face thresholds from vision/thresholds.toml for its embedder."""

    face_threshold: float = 0.3273
    """Least cosine similarity with the enrolled template (sface's calibrated value, FAR 0.001)."""
    card_threshold: float = 0.3273
    """Least cosine similarity with the card photo, when the card gave one."""
    face_tries: int = 3
    """Good-quality captures that may fail to match before the check-in is refused (face_mismatch)."""
    max_captures: int = 8
    """Captures in all (poor quality included) before giving up (face_quality)."""
    finger_tries: int = 3
    fingerprint_levels: frozenset[str] = frozenset({"strict"})
    """Supervision levels whose subjects also verify a finger."""
    fingerprint_always: bool = False
    """The centre asks every subject for a finger."""
    rollcall_card: bool = False
    """Roll-call answers start with the ID card (otherwise the person touches their entry)."""
    step_timeout_s: float = 30.0
    """A screen waiting for the person (face, finger, PIN, review) returns to idle after this."""
    card_prompt_timeout_s: float = 45.0
    device_timeout_s: float = 20.0
    """A lookup, capture, upload or publish not answered by then counts as failed."""
    result_timeout_s: float = 8.0
    """Receipts and messages stay this long (a touch closes them sooner)."""
    min_record_s: float = 1.0
    max_record_s: float = 300.0
    enrol_poses: tuple[str, ...] = ("front", "left", "right")
    enrol_turn: float = 0.2
    """Least |yaw| for a turned pose, and most for the frontal one (vision.quality's yaw units)."""
    enrol_fingers: int = 2
    pin_hash: PinHash | None = None
    """None: no staff PIN configured, the maintenance screen stays closed."""
    max_pin_failures: int = 5
    lockout_s: float = 300.0
    timezone: tzinfo = CHINA

    def __post_init__(self) -> None:
        for name in ("face_tries", "max_captures", "finger_tries", "max_pin_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"policy {name}: at least 1, got {getattr(self, name)}")
        if not 0 < self.min_record_s < self.max_record_s <= 3600:
            raise ValueError(
                f"policy recording limits: need 0 < min_record_s < max_record_s <= 3600 (the voice_report contract), "
                f"got {self.min_record_s} and {self.max_record_s}"
            )
        for name in ("step_timeout_s", "card_prompt_timeout_s", "device_timeout_s", "result_timeout_s", "lockout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"policy {name}: must be positive, got {getattr(self, name)}")
        if not self.enrol_poses or any(p not in ("front", "left", "right") for p in self.enrol_poses):
            raise ValueError(f"policy enrol_poses: each of front, left, right, got {self.enrol_poses}")

    def fingerprint_required(self, supervision_level: str) -> bool:
        """Whether a subject of this level verifies a finger as well."""
        return self.fingerprint_always or supervision_level in self.fingerprint_levels


@dataclass(frozen=True)
class SpeechAvailability:
    """Whether the voice report can run (kiosk.speech found a model), and the reason when not."""

    available: bool
    model: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Context:
    """What every step knows besides its state: the device, this run's id and the rules."""

    device_id: str
    boot_id: UUID
    """Made once per process start (uuid4) by the runtime: event ids are derived from it, so they are unique."""
    policy: Policy = field(default_factory=Policy)
    speech: SpeechAvailability = field(default_factory=lambda: SpeechAvailability(False, None, "no speech model"))
    fingerprint_sensor: bool = True
    """The kiosk has a fingerprint sensor (the daemon's [devices.fingerprint]); without it no finger can be asked."""

    def event_id(self, session: int, what: str) -> UUID:
        """The event id of message `what` in session `session`: unique per run, the same on a repeat."""
        return uuid5(self.boot_id, f"{session}/{what}")
