"""The kiosk runtime: the I/O side that feeds the pure flows (kiosk.flows) and carries out their effects.

```
 device daemon ─ events ─▶ events thread ─┐            ┌─▶ Show → view listeners (the Kivy UI)
 UI touches, PIN ────────────────────────┼▶ inputs ─▶ flow thread: step(ctx, state, input) → effects
 clock (timers) ─────────────────────────┤  queue      └─▶ lanes (one worker thread each): card, camera,
 uplink commands (rollcall, gallery) ────┤                 finger, microphone, central, speech; Publish → outbox
 link monitor (broker, central) ─────────┘            answers come back as inputs (with the effect's req)
```

One thread owns the flow state and never waits on a device, central or Vosk: every request effect
goes to the worker thread ("lane") of the thing it needs, which posts the answer back as an input
carrying the request's `req`, so the flows can drop answers that come too late. A lane never lets
an exception vanish: it answers with DeviceFailed, LookupFailed or UploadFailed and logs.

Offline first. Events go to the uplink's durable outbox (`Published` as soon as `send` returned);
the link monitor posts CentralOffline when the broker has been unreachable for a moment or central's
HTTPS API failed, and CentralOnline when both work again (the flows then show or clear the banner).
Faces are always verified against the encrypted local gallery (kiosk.face_gallery); lookups fall
back to the encrypted subject cache (kiosk.subject_cache); recordings that cannot be uploaded are
spooled encrypted and uploaded by a background thread once central answers.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import queue
import threading
import time
import uuid
import wave
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts import Message, RollcallStart
from kiosk import report_keywords
from kiosk.central_client import CentralClient, CentralError, CentralRefused, CentralUnreachable, Lookup
from kiosk.config import KioskConfig, Settings
from kiosk.devices import protocol as dp
from kiosk.devices.client import CommandRefused, DeviceClient, DeviceClientError, DeviceUnavailable
from kiosk.face_gallery import FaceGallery, embedder_identity
from kiosk.flows import Context, KioskState, SpeechAvailability, boot, step
from kiosk.flows.types import (
    CancelDevices,
    CaptureFace,
    CardInfo,
    CardRead,
    CardRemoved,
    CentralOffline,
    CentralOnline,
    DeviceFailed,
    DiscardRecording,
    Effect,
    EnrolFinger,
    FaceCaptured,
    FingerEnrolled,
    FingerResult,
    Input,
    LookupFailed,
    LookupSubject,
    PartialTranscript,
    PinEntered,
    Publish,
    Published,
    PublishFailed,
    ReadCard,
    RecordingLevel,
    RecordingStopped,
    RollcallCommand,
    Show,
    StartRecording,
    StartTimer,
    StopRecording,
    SubjectFound,
    SubjectInfo,
    SubjectNotFound,
    Tick,
    Touch,
    Transcribe,
    Transcribed,
    UploadAudio,
    UploadDone,
    UploadFailed,
    UploadTemplates,
    VerifyFinger,
    View,
)
from kiosk.live_transcript import LiveTranscription
from kiosk.speech import SAMPLE_RATE, SpeechModel, SpeechStatus, load_speech, transcribe_pcm
from kiosk.subject_cache import AudioSpool, CachedSubject, CacheError, SubjectCache
from uplink import Uplink
from vision.errors import TemplateError
from vision.template import Template

log = logging.getLogger(__name__)

VERSION = "0.1.0"
_STOP = object()
_KEPT_REFS = 32  # enrolment captures kept in memory until uploaded
_FINGER_EXTRA_S = 3.0  # the finger is usually still on the sensor when the next template is tried


def mask_id_number(id_number: str) -> str:
    """An ID number fit for a log line: region and check character only."""
    return f"{id_number[:4]}…{id_number[-1:]}" if len(id_number) > 6 else "…"


def card_info(card: dp.CardFields) -> CardInfo:
    """The fields of a decoded card the flows use."""
    return CardInfo(
        id_number=card.id_number,
        name=card.name,
        valid_until=card.valid_until,
        id_number_ok=card.id_number_valid,
        photo=card.photo if card.photo_available and card.photo else None,
    )


@dataclass
class _Recording:
    req: str
    recording_id: str | None = None
    path: Path | None = None
    sha256: str | None = None
    duration_s: float = 0.0


@dataclass
class LinkState:
    """What the link monitor knows about the broker and central."""

    uplink_up: bool = False
    uplink_down_since: float | None = None
    central_ok: bool = True
    central_error: str | None = None
    last_probe: float = 0.0
    online: bool = True


@dataclass(frozen=True)
class CaptureSettings:
    """How faces and fingers are asked for (kiosk.config CaptureSection)."""

    frames: int = 2
    timeout_s: float = 5.0
    finger_timeout_s: float = 20.0
    finger_model: str = "as608"


@dataclass
class RuntimeOptions:
    """The runtime's knobs besides its adapters."""

    capture: CaptureSettings = field(default_factory=CaptureSettings)
    enrolled_by: str = ""
    refresh_wait_s: float = 3.0
    probe_interval_s: float = 5.0
    offline_grace_s: float = 2.0
    versions: dict[str, str] = field(default_factory=dict)


class Runtime:
    """Runs the kiosk: the flow machine, its adapters and its threads. `start()`, then feed touches; `stop()`."""

    def __init__(
        self,
        ctx: Context,
        *,
        events_address: str,
        commands_address: str,
        central: CentralClient,
        uplink: Uplink,
        gallery: FaceGallery,
        cache: SubjectCache,
        spool: AudioSpool,
        speech: SpeechModel | None,
        speech_status: SpeechStatus,
        options: RuntimeOptions | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.ctx = ctx
        self.options = options or RuntimeOptions()
        self.central = central
        self.uplink = uplink
        self.gallery = gallery
        self.cache = cache
        self.spool = spool
        self.speech = speech
        self.speech_status = speech_status
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._addresses = (events_address, commands_address)
        self._events_client = DeviceClient(events_address, commands_address)
        self._clients = {
            name: DeviceClient(events_address, commands_address, topics=[])
            for name in ("card", "camera", "finger", "mic")
        }
        self._lanes = {
            name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kiosk-{name}")
            for name in ("card", "camera", "finger", "mic", "central", "speech")
        }
        self.live = LiveTranscription(speech) if speech is not None else None
        self._inputs: queue.Queue[object] = queue.Queue()
        self._timers: list[datetime] = []
        self._state: KioskState | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._views = threading.Condition()
        self._history: deque[tuple[int, View]] = deque(maxlen=1000)
        self._seq = 0
        self._view_listeners: list[Callable[[View], None]] = []
        self._preview_listeners: list[Callable[[bytes], None]] = []
        self.published: deque[Message] = deque(maxlen=1000)
        self._card: CardInfo | None = None
        self._recording: _Recording | None = None
        self._recordings: OrderedDict[str, _Recording] = OrderedDict()
        self._fingerprints: dict[str, tuple[bytes, ...]] = {}
        self._captures: OrderedDict[str, Template] = OrderedDict()
        self._fingers: OrderedDict[str, bytes] = OrderedDict()
        self._uploaded_refs: set[str] = set()
        self.link = LinkState()
        self._drivers: dict[str, str] = {}
        self._status_sent: dict[str, Any] | None = None
        self._spool_wake = threading.Event()

    # --- construction from the kiosk's file -----------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Runtime:
        """Build every adapter the kiosk file describes (loads the speech model and the embedder identity)."""
        from vision.gallery_sync import FetchSettings

        k: KioskConfig = settings.kiosk
        secret = k.secret.get_secret_value()
        k.state_dir.mkdir(parents=True, exist_ok=True)
        k.state_dir.chmod(0o700)
        expected, threshold = embedder_identity(settings.devices.vision)
        status, model = load_speech(k.speech.build())
        speech = SpeechAvailability(status.available, status.model, "" if status.available else status.detail)
        policy = k.policy.build(threshold, threshold)
        ctx = Context(
            device_id=k.device_id,
            boot_id=uuid.uuid4(),
            policy=policy,
            speech=speech,
            fingerprint_sensor=settings.devices.fingerprint is not None,
        )
        versions = {"kiosk": VERSION, "embedder": f"{expected.backend}:{expected.model_sha256[:12]}"}
        if status.model:
            versions["speech"] = status.model
        central = CentralClient(
            k.central.url,
            k.device_id,
            secret,
            ca_file=k.central.ca_file,
            connect_timeout_s=k.central.connect_timeout_s,
            read_timeout_s=k.central.read_timeout_s,
            upload_timeout_s=k.central.upload_timeout_s,
        )
        gallery = FaceGallery(
            device_id=k.device_id,
            secret=secret,
            cache_dir=k.gallery_dir,
            expected=expected,
            central_url=k.central.url,
            settings=FetchSettings(
                ca_file=k.central.ca_file,
                allow_http=k.central.allow_http,
                connect_timeout_s=k.central.connect_timeout_s,
                read_timeout_s=k.central.upload_timeout_s,
                max_bytes=k.gallery.max_bytes,
            ),
            retry_min_s=k.gallery.retry_min_s,
            retry_max_s=k.gallery.retry_max_s,
        )
        capture = CaptureSettings(
            frames=k.capture.frames,
            timeout_s=k.capture.timeout_s,
            finger_timeout_s=k.capture.finger_timeout_s,
            finger_model=k.capture.finger_model,
        )
        options = RuntimeOptions(
            capture=capture,
            enrolled_by=k.enrolled_by,
            refresh_wait_s=k.gallery.refresh_wait_s,
            probe_interval_s=k.central.probe_interval_s,
            versions=versions,
        )
        return cls(
            ctx,
            events_address=settings.devices.events_address,
            commands_address=settings.devices.commands_address,
            central=central,
            uplink=Uplink(k.uplink_config(versions)),
            gallery=gallery,
            cache=SubjectCache(k.cache_path, secret, max_age_s=k.cache.max_age_days * 86400),
            spool=AudioSpool(k.spool_dir, secret),
            speech=model,
            speech_status=status,
            options=options,
            clock=clock,
        )

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Runtime:
        """Open the cached gallery, connect, start every thread and show the idle screen."""
        self.gallery.start()
        self.uplink.on_command("gallery", self.gallery.offer)
        self.uplink.on_command("rollcall", self._on_rollcall)
        self.uplink.publish_status(**self._status_extra())
        self.uplink.start()
        self._events_client.subscribe()
        threading.Thread(target=report_keywords.warm_up, name="jieba-warm-up", daemon=True).start()
        for name, target in (
            ("kiosk-flows", self._run_flows),
            ("kiosk-events", self._run_events),
            ("kiosk-link", self._run_link),
            ("kiosk-spool", self._run_spool),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._lanes["card"].submit(self._guard, "card", None, self._initial_card)
        log.info(
            "kiosk %s running: policy face threshold %.4f, speech: %s",
            self.ctx.device_id,
            self.ctx.policy.face_threshold,
            self.speech_status.detail,
        )
        return self

    def stop(self, drain_timeout: float = 2.0) -> None:
        """Stop the threads and the lanes, flush the outbox for a moment, close everything."""
        self._stop.set()
        self._inputs.put(_STOP)
        self._spool_wake.set()
        for thread in self._threads:
            thread.join(10)
        for lane in self._lanes.values():
            lane.shutdown(wait=False, cancel_futures=True)
        if self.live is not None:
            self.live.close()
        self.uplink.stop(drain_timeout=drain_timeout)
        self.gallery.stop()
        for client in (*self._clients.values(), self._events_client):
            client.close()
        self.central.close()
        self.cache.close()
        log.info("kiosk %s stopped", self.ctx.device_id)

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- what the UI calls --------------------------------------------------------------------------

    def post(self, event: Input) -> None:
        """Hand an input to the flow thread (any thread may call this)."""
        self._inputs.put(event)

    def touch(self, button: str) -> None:
        """The person touched a button of the current view."""
        self.post(Touch(at=self.clock(), button=button))

    def enter_pin(self, pin: str) -> None:
        """A staff member entered a PIN on the PIN pad."""
        self.post(PinEntered(at=self.clock(), pin=pin))

    def add_view_listener(self, listener: Callable[[View], None]) -> None:
        """Call `listener(view)` (on the flow thread) for every view shown; the current one at once."""
        with self._views:
            self._view_listeners.append(listener)
            current = self._history[-1][1] if self._history else None
        if current is not None:
            listener(current)

    def add_preview_listener(self, listener: Callable[[bytes], None]) -> None:
        """Call `listener(jpeg)` (on the event thread) for every camera preview frame."""
        self._preview_listeners.append(listener)

    @property
    def card_present(self) -> bool:
        """Whether a card lies on the reader (as the daemon's events last said)."""
        return self._card is not None

    @property
    def view(self) -> View | None:
        """The view shown last."""
        with self._views:
            return self._history[-1][1] if self._history else None

    @property
    def view_seq(self) -> int:
        """How many views were shown so far (for `wait_for_view(after=…)`)."""
        with self._views:
            return self._seq

    def wait_for_view(self, predicate: Callable[[View], bool], timeout: float, *, after: int = 0) -> View | None:
        """The first view shown after view number `after` that satisfies `predicate`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._views:
            while True:
                for seq, view in self._history:
                    if seq > after and predicate(view):
                        return view
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._views.wait(left)

    def status(self) -> dict[str, Any]:
        """What the maintenance screen and the status message show."""
        stats = self.uplink.stats()
        return {
            **self._status_extra(),
            "outbox_depth": stats["depth"],
            "broker_connected": stats["connected"],
            "broker_error": stats["last_error"],
            "central_error": self.link.central_error,
            **{k: v for k, v in self.gallery.status().items() if k != "gallery_version"},
        }

    # --- the flow thread ----------------------------------------------------------------------------

    def _run_flows(self) -> None:
        state, effects = boot(self.ctx, self.clock())
        self._state = state
        self._carry_out(effects)
        while True:
            wait = 1.0
            if self._timers:
                wait = min(wait, max(0.0, (self._timers[0] - self.clock()).total_seconds()))
            try:
                item = self._inputs.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP or self._stop.is_set():
                return
            now = self.clock()
            due = False
            while self._timers and self._timers[0] <= now:
                heapq.heappop(self._timers)
                due = True
            if due or item is None:
                self._step(Tick(at=now))
            if isinstance(item, Input):
                self._step(item)

    def _step(self, event: Input) -> None:
        assert self._state is not None
        try:
            self._state, effects = step(self.ctx, self._state, event)
        except Exception:  # a flow bug must not stop the kiosk: the input is dropped, the state kept
            log.exception("the flows raised on %s; input ignored", type(event).__name__)
            return
        if not isinstance(event, Tick | RecordingLevel | PartialTranscript):
            log.debug("input %s → %s", type(event).__name__, [type(e).__name__ for e in effects])
        self._carry_out(effects)

    def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            try:
                self._do(effect)
            except Exception:
                log.exception("carrying out %s failed", type(effect).__name__)

    def _do(self, effect: Effect) -> None:
        if isinstance(effect, Show):
            self._show(effect.view)
        elif isinstance(effect, StartTimer):
            heapq.heappush(self._timers, effect.at)
        elif isinstance(effect, Publish):
            self._publish(effect)
        elif isinstance(effect, ReadCard):
            if self._card is not None:  # already on the reader: it will not be "inserted" again
                self.post(CardRead(at=self.clock(), card=self._card))
        elif isinstance(effect, LookupSubject):
            self._submit("central", effect.req, self._lookup, effect)
        elif isinstance(effect, CaptureFace):
            self._submit("camera", effect.req, self._capture_face, effect)
        elif isinstance(effect, VerifyFinger):
            self._submit("finger", effect.req, self._verify_finger, effect)
        elif isinstance(effect, EnrolFinger):
            self._submit("finger", effect.req, self._enrol_finger, effect)
        elif isinstance(effect, CancelDevices):
            self._cancel_devices()
        elif isinstance(effect, StartRecording):
            self._recording = _Recording(effect.req)
            self._submit("mic", effect.req, self._start_recording, effect)
        elif isinstance(effect, StopRecording):
            self._submit("mic", effect.req, self._stop_recording, effect)
        elif isinstance(effect, DiscardRecording):
            self._lanes["mic"].submit(self._guard, "mic", None, self._discard, effect.audio_sha256)
        elif isinstance(effect, Transcribe):
            self._submit("speech", effect.req, self._transcribe, effect)
        elif isinstance(effect, UploadAudio):
            self._submit("central", effect.req, self._upload_audio, effect)
        elif isinstance(effect, UploadTemplates):
            self._submit("central", effect.req, self._upload_templates, effect)
        else:  # pragma: no cover - a new effect the runtime does not know yet
            log.error("effect %s is not carried out by this runtime", type(effect).__name__)

    def _show(self, view: View) -> None:
        with self._views:
            self._seq += 1
            self._history.append((self._seq, view))
            listeners = list(self._view_listeners)
            self._views.notify_all()
        if view.screen.value not in ("voice_recording",):
            log.info("screen %s: %s%s", view.screen.value, view.title.id, " (offline)" if view.banner else "")
        for listener in listeners:
            try:
                listener(view)
            except Exception:
                log.exception("a view listener failed")

    def _publish(self, effect: Publish) -> None:
        message = effect.message
        try:
            self.uplink.send(message)
        except Exception as exc:  # OutboxFull, a disk error: the flow tells the person to see staff
            log.error("%s %s not queued: %s", message.type, message.event_id, exc)
            self.post(PublishFailed(at=self.clock(), event_id=message.event_id, detail=str(exc)))
            return
        self.published.append(message)
        log.info("%s %s queued for central (%s)", message.type, message.event_id, getattr(message, "result", ""))
        self.post(Published(at=self.clock(), event_id=message.event_id))

    # --- lanes --------------------------------------------------------------------------------------

    def _submit(self, lane: str, req: str, work: Callable[[Any], None], effect: Any) -> None:
        self._lanes[lane].submit(self._guard, lane, req, work, effect)

    def _guard(self, lane: str, req: str | None, work: Callable[..., None], *args: Any) -> None:
        """Run one lane task; an unexpected error becomes the failure answer of its request."""
        try:
            work(*args)
        except Exception as exc:
            log.exception("kiosk %s lane: %s failed", lane, getattr(work, "__name__", "task"))
            if req is not None:
                self.post(self._failure(lane, req, args[0] if args else None, f"{type(exc).__name__}: {exc}"))

    def _failure(self, lane: str, req: str, effect: object, detail: str) -> Input:
        """The answer that tells the flow a request failed, by the kind of request."""
        at = self.clock()
        if isinstance(effect, LookupSubject):
            return LookupFailed(at=at, req=req, detail=detail)
        if isinstance(effect, UploadAudio | UploadTemplates):
            return UploadFailed(at=at, req=req, detail=detail)
        device = {"camera": "camera", "finger": "fingerprint", "mic": "microphone"}.get(lane, "device")
        return DeviceFailed(at=at, req=req, device=device, detail=detail)

    def _initial_card(self) -> None:
        """A card already on the reader at start is "present" (it will not be inserted again)."""
        try:
            card = self._clients["card"].read_card(wait_s=0)
        except DeviceClientError as exc:
            log.info("no card state at start: %s", exc)
            return
        if card is not None and self._card is None:
            self._card = card_info(card)

    # -- lookup

    def _central_failed(self, exc: CentralError) -> None:
        with self._lock:
            self.link.central_ok = False
            self.link.central_error = str(exc)
        log.warning("central unreachable: %s", exc)

    def _central_worked(self) -> None:
        with self._lock:
            self.link.central_ok = True
            self.link.central_error = None

    def _subject_info(self, cached: CachedSubject) -> SubjectInfo:
        if "face" in cached.enrolled and not self.gallery.has(cached.subject_id) and self.link.central_ok:
            self.gallery.refresh_now(self.options.refresh_wait_s)
        return SubjectInfo(
            subject_id=cached.subject_id,
            name=cached.name,
            status=cached.status,
            supervision_level=cached.supervision_level,
            has_face_template=self.gallery.has(cached.subject_id),
            has_fingerprint=bool(cached.fingerprints),
            requires_fingerprint=cached.requires_fingerprint,
        )

    def _lookup(self, effect: LookupSubject) -> None:
        req = effect.req
        if effect.subject_id is not None:
            self._lookup_claim(req, effect.subject_id)
            return
        id_number = effect.id_number or ""
        found: Lookup | None
        try:
            found = self.central.lookup(id_number)
        except CentralUnreachable as exc:
            self._central_failed(exc)
            self._lookup_offline(req, id_number, str(exc))
            return
        except CentralRefused as exc:
            log.error("lookup of %s refused: %s", mask_id_number(id_number), exc)
            self.post(LookupFailed(at=self.clock(), req=req, detail=str(exc)))
            return
        self._central_worked()
        if found is None:
            self.cache.forget_card(id_number)
            log.info("card %s: not a subject at this centre", mask_id_number(id_number))
            self.post(SubjectNotFound(at=self.clock(), req=req))
            return
        fingers: tuple[bytes, ...] = ()
        if "fingerprint" in found.enrolled:
            try:
                fingers = tuple(self.central.fingerprints(found.subject_id))
            except CentralError as exc:
                log.warning("fingerprints of %s not fetched: %s", found.subject_id, exc)
                old = self.cache.by_subject(found.subject_id)
                fingers = old.fingerprints if old is not None else ()
        cached = CachedSubject(
            subject_id=found.subject_id,
            name=found.name,
            status=found.status,
            supervision_level=found.supervision_level,
            enrolled=found.enrolled,
            requires_fingerprint=found.requires_fingerprint,
            fingerprints=fingers,
        )
        try:
            self.cache.put(id_number, cached)
        except Exception:
            log.exception("subject cache: %s not stored", found.subject_id)
        self._fingerprints[found.subject_id] = fingers
        subject = self._subject_info(cached)
        log.info(
            "card %s: subject %s (%s), face in gallery: %s",
            mask_id_number(id_number),
            subject.subject_id,
            subject.status,
            subject.has_face_template,
        )
        self.post(SubjectFound(at=self.clock(), req=req, subject=subject))

    def _lookup_offline(self, req: str, id_number: str, why: str) -> None:
        cached = self.cache.by_card(id_number)
        if cached is None:
            self.post(
                LookupFailed(
                    at=self.clock(),
                    req=req,
                    detail=f"{why}; and this card was never looked up at this kiosk while it was online",
                )
            )
            return
        self._fingerprints[cached.subject_id] = cached.fingerprints
        log.info("card %s: subject %s from the offline cache", mask_id_number(id_number), cached.subject_id)
        self.post(SubjectFound(at=self.clock(), req=req, subject=self._subject_info(cached)))

    def _lookup_claim(self, req: str, subject_id: str) -> None:
        """A roll-call answer by subject id: central named the subject in its command; face only."""
        cached = self.cache.by_subject(subject_id)
        if cached is None:
            cached = CachedSubject(subject_id, subject_id, "active", "normal", ("face",))
        self.post(SubjectFound(at=self.clock(), req=req, subject=self._subject_info(cached)))

    # -- face

    def _capture_face(self, effect: CaptureFace) -> None:
        req = effect.req
        cfg = self.options.capture
        try:
            result = self._clients["camera"].capture_face(
                timeout_s=cfg.timeout_s, frames=cfg.frames, reference_photo=effect.card_photo
            )
        except CommandRefused as exc:
            if exc.code == "quality_refused":
                codes = tuple(
                    str(r.get("code")) for r in exc.details.get("reasons", ()) if isinstance(r, dict) and r.get("code")
                )
                self.post(FaceCaptured(at=self.clock(), req=req, quality_ok=False, refusals=codes))
                return
            self.post(DeviceFailed(at=self.clock(), req=req, device="camera", detail=exc.message))
            return
        except DeviceUnavailable as exc:
            self.post(DeviceFailed(at=self.clock(), req=req, device="camera", detail=exc.message))
            return
        probe = Template.from_bytes(result.template)
        yaw = result.quality.measures.get("yaw")
        if effect.purpose == "enrol":
            ref = uuid.uuid4().hex
            self._captures[ref] = probe
            while len(self._captures) > _KEPT_REFS:
                self._captures.popitem(last=False)
            self.post(
                FaceCaptured(
                    at=self.clock(), req=req, quality_ok=True, quality=result.quality.score, yaw=yaw, capture_ref=ref
                )
            )
            return
        try:
            score = self.gallery.score(effect.subject_id, probe)
        except TemplateError as exc:
            log.error("live face and gallery are of different models: %s", exc)
            self.post(DeviceFailed(at=self.clock(), req=req, device="camera", detail=str(exc)))
            return
        card_score = result.photo_verification.score if result.photo_verification is not None else None
        log.info(
            "face of %s: template score %s, card score %s, quality %.2f",
            effect.subject_id,
            "none" if score is None else f"{score:.3f}",
            "none" if card_score is None else f"{card_score:.3f}",
            result.quality.score,
        )
        self.post(
            FaceCaptured(
                at=self.clock(),
                req=req,
                quality_ok=True,
                quality=result.quality.score,
                template_score=score,
                card_score=card_score,
                yaw=yaw,
            )
        )

    # -- fingers

    def _finger_wait_s(self) -> float:
        return min(self.options.capture.finger_timeout_s, 120.0)

    def _verify_finger(self, effect: VerifyFinger) -> None:
        req = effect.req
        templates = self._fingerprints.get(effect.subject_id, ())
        if not templates:
            self.post(
                DeviceFailed(at=self.clock(), req=req, device="fingerprint", detail="no fingerprint template known")
            )
            return
        client = self._clients["finger"]
        started = time.monotonic()
        best = 0
        tried = 0
        while tried < len(templates):
            wait = self._finger_wait_s() if tried == 0 else _FINGER_EXTRA_S
            try:
                result = client.verify_finger(templates[tried], timeout_s=wait)
            except CommandRefused as exc:
                if exc.code == "no_finger":
                    if tried == 0 and time.monotonic() - started < self.ctx.policy.step_timeout_s:
                        continue  # nobody pressed yet: keep the sensor listening while the screen waits
                    break
                self.post(DeviceFailed(at=self.clock(), req=req, device="fingerprint", detail=exc.message))
                return
            except DeviceUnavailable as exc:
                self.post(DeviceFailed(at=self.clock(), req=req, device="fingerprint", detail=exc.message))
                return
            tried += 1
            best = max(best, result.score)
            if result.matched:
                self.post(FingerResult(at=self.clock(), req=req, matched=True, score=result.score))
                return
        if tried:
            self.post(FingerResult(at=self.clock(), req=req, matched=False, score=best))

    def _enrol_finger(self, effect: EnrolFinger) -> None:
        req = effect.req
        started = time.monotonic()
        while True:
            try:
                result = self._clients["finger"].enrol_finger(timeout_s=self._finger_wait_s())
                break
            except CommandRefused as exc:
                if exc.code == "no_finger" and time.monotonic() - started < self.ctx.policy.step_timeout_s:
                    continue
                if exc.code == "no_finger":
                    return  # the screen times out by itself
                self.post(DeviceFailed(at=self.clock(), req=req, device="fingerprint", detail=exc.message))
                return
            except DeviceUnavailable as exc:
                self.post(DeviceFailed(at=self.clock(), req=req, device="fingerprint", detail=exc.message))
                return
        ref = uuid.uuid4().hex
        self._fingers[ref] = result.template
        while len(self._fingers) > _KEPT_REFS:
            self._fingers.popitem(last=False)
        self.post(FingerEnrolled(at=self.clock(), req=req, template_ref=ref))

    def _cancel_devices(self) -> None:
        """The daemon has no cancel: late answers are ignored by the flows; a recording is stopped and dropped."""
        recording = self._recording
        if recording is not None:
            self._recording = None
            self._lanes["mic"].submit(self._guard, "mic", None, self._abandon_recording, recording)

    # -- microphone and speech

    def _start_recording(self, effect: StartRecording) -> None:
        req = effect.req
        recording = self._recording
        try:
            started = self._clients["mic"].start_recording(max_s=min(3600.0, self.ctx.policy.max_record_s + 5))
        except DeviceClientError as exc:
            self.post(DeviceFailed(at=self.clock(), req=req, device="microphone", detail=exc.message))
            return
        if recording is None or recording.req != req:  # cancelled meanwhile
            self._abandon_recording(_Recording(req, started.recording_id))
            return
        recording.recording_id = started.recording_id
        if self.live is not None:
            self.live.begin(
                started.recording_id, lambda text: self.post(PartialTranscript(at=self.clock(), req=req, text=text))
            )
        log.info("recording %s started", started.recording_id)

    def _stop_recording(self, effect: StopRecording) -> None:
        req = effect.req
        recording = self._recording
        if recording is None or recording.req != req or recording.recording_id is None:
            self.post(DeviceFailed(at=self.clock(), req=req, device="microphone", detail="no recording is running"))
            return
        try:
            result = self._clients["mic"].stop_recording(recording.recording_id)
        except DeviceClientError as exc:
            self.post(DeviceFailed(at=self.clock(), req=req, device="microphone", detail=exc.message))
            return
        self._recording = None
        recording.path = Path(result.path)
        recording.sha256 = result.sha256
        recording.duration_s = result.duration_s
        self._recordings[result.sha256] = recording
        while len(self._recordings) > 8:
            self._recordings.popitem(last=False)
        log.info("recording %s: %.1f s, sha256 %s…", result.recording_id, result.duration_s, result.sha256[:12])
        self.post(RecordingStopped(at=self.clock(), req=req, audio_sha256=result.sha256, duration_s=result.duration_s))

    def _abandon_recording(self, recording: _Recording) -> None:
        if recording.recording_id is None:
            return
        if self.live is not None:
            self.live.discard(recording.recording_id)
        try:
            result = self._clients["mic"].stop_recording(recording.recording_id)
        except DeviceClientError as exc:
            log.info("abandoned recording %s: %s", recording.recording_id, exc)
            return
        Path(result.path).unlink(missing_ok=True)

    def _discard(self, sha256: str) -> None:
        recording = self._recordings.pop(sha256, None)
        if recording is not None and recording.path is not None:
            recording.path.unlink(missing_ok=True)
            log.info("recording %s… discarded", sha256[:12])

    def _wav_bytes(self, sha256: str) -> bytes:
        recording = self._recordings.get(sha256)
        if recording is None or recording.path is None:
            raise CacheError(f"recording {sha256[:12]}… is not known to this kiosk run")
        data = recording.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CacheError(f"recording file {recording.path} no longer has sha256 {sha256[:12]}…")
        return data

    def _transcribe(self, effect: Transcribe) -> None:
        req = effect.req
        if self.speech is None:
            self.post(DeviceFailed(at=self.clock(), req=req, device="device", detail=self.speech_status.detail))
            return
        recording = self._recordings.get(effect.audio_sha256)
        transcript = None
        if recording is not None and recording.recording_id is not None and self.live is not None:
            transcript = self.live.finish(recording.recording_id, recording.duration_s)
        if transcript is None:
            wav = self._wav_bytes(effect.audio_sha256)
            transcript = transcribe_pcm(self.speech, _pcm_of(wav))
            source = "file"
        else:
            source = "live"
        elements = report_keywords.extract(transcript.text)
        log.info(
            "transcript (%s, %s): %d characters, %.1f s of audio, real-time factor %.2f",
            source,
            transcript.model,
            len(transcript.text),
            transcript.audio_s,
            transcript.rtf,
        )
        self.post(
            Transcribed(at=self.clock(), req=req, text=transcript.text, model=transcript.model, key_elements=elements)
        )

    # -- uploads

    def _upload_audio(self, effect: UploadAudio) -> None:
        req, sha = effect.req, effect.audio_sha256
        try:
            wav = self._wav_bytes(sha)
        except (OSError, CacheError) as exc:
            self.post(UploadFailed(at=self.clock(), req=req, detail=str(exc)))
            return
        queued = False
        try:
            created = self.central.upload_audio(sha, wav)
            self._central_worked()
            log.info("recording %s… uploaded (%s)", sha[:12], "new" if created else "already there")
        except CentralUnreachable as exc:
            self._central_failed(exc)
            try:
                self.spool.put(sha, wav)
            except (OSError, CacheError) as spool_exc:
                self.post(UploadFailed(at=self.clock(), req=req, detail=f"{exc}; not spooled: {spool_exc}"))
                return
            queued = True
            self._spool_wake.set()
            log.info("recording %s… spooled until central answers", sha[:12])
        except CentralRefused as exc:
            self.post(UploadFailed(at=self.clock(), req=req, detail=str(exc)))
            return
        self._discard(sha)
        self.post(UploadDone(at=self.clock(), req=req, queued=queued))

    def _upload_templates(self, effect: UploadTemplates) -> None:
        req = effect.req
        if not self.options.enrolled_by:
            self.post(
                UploadFailed(
                    at=self.clock(),
                    req=req,
                    detail="no enrolling officer configured (kiosk.enrolled_by): central refuses anonymous enrolments",
                )
            )
            return
        uploads: list[tuple[str, str, str, bytes]] = []
        for ref in effect.face_refs:
            face = self._captures.get(ref)
            if face is None and ref not in self._uploaded_refs:
                self.post(
                    UploadFailed(at=self.clock(), req=req, detail="a face capture is no longer held; start again")
                )
                return
            if face is not None:
                uploads.append((ref, "face", face.backend, face.to_bytes()))
        for ref in effect.finger_refs:
            finger = self._fingers.get(ref)
            if finger is None and ref not in self._uploaded_refs:
                self.post(UploadFailed(at=self.clock(), req=req, detail="a fingerprint is no longer held; start again"))
                return
            if finger is not None:
                uploads.append((ref, "fingerprint", self.options.capture.finger_model, finger))
        for ref, kind, model, raw in uploads:
            try:
                self.central.upload_template(effect.subject_id, kind, model, raw, self.options.enrolled_by)
            except CentralError as exc:
                if isinstance(exc, CentralUnreachable):
                    self._central_failed(exc)
                self.post(UploadFailed(at=self.clock(), req=req, detail=str(exc)))
                return
            self._uploaded_refs.add(ref)
            self._captures.pop(ref, None)
            self._fingers.pop(ref, None)
        self._central_worked()
        log.info("enrolment of %s uploaded: %d template(s)", effect.subject_id, len(uploads))
        self.post(UploadDone(at=self.clock(), req=req))

    # --- device events ----------------------------------------------------------------------------

    def _run_events(self) -> None:
        client = self._events_client
        while not self._stop.is_set():
            try:
                event = client.next_event(0.5)
            except Exception:
                log.exception("device events: reading failed")
                self._stop.wait(0.5)
                continue
            if event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    log.exception("device event %s not handled", getattr(event, "event", "?"))

    def _on_event(self, event: dp.Event) -> None:
        if isinstance(event, dp.CardInserted):
            card = card_info(event.card)
            self._card = card
            log.info("card %s placed", mask_id_number(card.id_number))
            self.post(CardRead(at=self.clock(), card=card))
        elif isinstance(event, dp.CardRemoved):
            self._card = None
            self.post(CardRemoved(at=self.clock()))
        elif isinstance(event, dp.FrameReady):
            for listener in self._preview_listeners:
                try:
                    listener(event.preview)
                except Exception:
                    log.exception("a preview listener failed")
        elif isinstance(event, dp.AudioLevel):
            recording = self._recording
            if recording is not None and recording.recording_id == event.recording_id:
                self.post(RecordingLevel(at=self.clock(), req=recording.req, meter=event.meter))
        elif isinstance(event, dp.AudioChunk):
            if self.live is not None:
                self.live.push(event.recording_id, event.index, event.pcm)
        elif isinstance(event, dp.RecordingStopped):
            recording = self._recording
            if recording is not None and recording.recording_id == event.recording_id:
                if event.stopped_by == "source_failed":
                    self.post(
                        DeviceFailed(
                            at=self.clock(), req=recording.req, device="microphone", detail="microphone failed"
                        )
                    )
                else:
                    log.info("recording %s ended by the daemon (%s)", event.recording_id, event.stopped_by)
        elif isinstance(event, dp.Heartbeat):
            self._drivers = dict(event.drivers)
        elif isinstance(event, dp.DriverState):
            self._drivers[event.driver] = event.state
            if event.state == "failed":
                log.warning("device driver %s failed: %s", event.driver, event.reason)

    def _on_rollcall(self, message: Message) -> None:
        if isinstance(message, RollcallStart):
            self.post(RollcallCommand(at=self.clock(), command=message))

    # --- link monitor, status, spool ----------------------------------------------------------------

    def _run_link(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._check_link()
            except Exception:
                log.exception("link monitor")

    def _check_link(self) -> None:
        now = time.monotonic()
        link = self.link
        up = self.uplink.connected
        if up:
            link.uplink_down_since = None
        elif link.uplink_down_since is None:
            link.uplink_down_since = now
        link.uplink_up = up
        if not link.central_ok and now - link.last_probe >= self.options.probe_interval_s:
            link.last_probe = now
            if self.central.healthy():
                self._central_worked()
                log.info("central answers again")
        broker_down = (
            link.uplink_down_since is not None and now - link.uplink_down_since >= self.options.offline_grace_s
        )
        online = link.central_ok and not broker_down
        if online != link.online:
            link.online = online
            why = "broker unreachable" if broker_down else (link.central_error or "central unreachable")
            log.warning("kiosk is %s%s", "online" if online else "offline", "" if online else f": {why}")
            self.post((CentralOnline if online else CentralOffline)(at=self.clock()))
            if online:
                self._spool_wake.set()
        extra = self._status_extra()
        if extra != self._status_sent:
            self._status_sent = extra
            try:
                self.uplink.publish_status(**extra)
            except Exception:
                log.exception("status not published")

    def _status_extra(self) -> dict[str, Any]:
        return {
            "speech": self.speech_status.detail,
            "speech_model": self.speech_status.model or "",
            "offline": not self.link.online,
            "central_reachable": self.link.central_ok,
            "gallery_version": self.gallery.version,
            "gallery_subjects": len(self.gallery.subjects()),
            "subject_cache": len(self.cache),
            "audio_spooled": len(self.spool.pending()),
            "devices": dict(self._drivers),
        }

    def _run_spool(self) -> None:
        delay = 2.0
        while not self._stop.is_set():
            self._spool_wake.wait(delay)
            self._spool_wake.clear()
            if self._stop.is_set():
                return
            pending = self.spool.pending()
            if not pending:
                delay = 30.0
                continue
            for sha in pending:
                try:
                    wav = self.spool.get(sha)
                except CacheError as exc:
                    log.error("%s; left in the spool for an operator", exc)
                    continue
                try:
                    self.central.upload_audio(sha, wav)
                except CentralUnreachable:
                    delay = min(max(delay * 2, 2.0), 300.0)
                    break
                except CentralRefused as exc:
                    log.error("spooled recording %s… refused by central (%s); left in the spool", sha[:12], exc)
                    continue
                self.spool.remove(sha)
                self._central_worked()
                log.info("spooled recording %s… uploaded", sha[:12])
            else:
                delay = 2.0


def _pcm_of(wav: bytes) -> bytes:
    """The 16 kHz mono 16-bit samples of a WAV file the daemon wrote."""
    import io

    with wave.open(io.BytesIO(wav)) as reader:
        if (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise CacheError(
                f"recording is {reader.getframerate()} Hz, {reader.getnchannels()} channel(s), "
                f"{8 * reader.getsampwidth()} bit; expected 16000 Hz mono 16-bit"
            )
        return bytes(reader.readframes(reader.getnframes()))
