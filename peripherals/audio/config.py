"""Microphone settings, one model per kind of source, picked by the `type` key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Chunks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunk_ms: int = Field(
        default=100, ge=10, le=1000, title="Chunk length", description="milliseconds of audio per chunk"
    )
    buffer_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        title="Buffer",
        description="seconds of audio kept for a slow reader; older chunks are dropped and counted",
    )


class PyAudioMicrophone(_Chunks):
    """A microphone through PyAudio (PortAudio), recording 16 kHz mono 16-bit."""

    type: Literal["pyaudio"] = Field(default="pyaudio", title="Source type")
    device: int | str | None = Field(
        default=None,
        title="Input device",
        description="PortAudio device index, or part of its name (case ignored); None: the default input",
    )


class WavMicrophone(_Chunks):
    """A WAV file replayed as a microphone (tests, demo)."""

    type: Literal["wav"] = Field(default="wav", title="Source type")
    path: Path = Field(title="WAV file")
    realtime: bool = Field(
        default=True,
        title="Real time",
        description="deliver chunks as fast as a microphone would; false: as fast as the reader takes them",
    )
    loop: bool = Field(default=False, title="Loop", description="start again at the end instead of ending")
    convert: bool = Field(
        default=True,
        title="Convert",
        description="resample other rates to 16 kHz and mix several channels down to mono; false: refuse such files",
    )


MicrophoneConfig = Annotated[PyAudioMicrophone | WavMicrophone, Field(discriminator="type")]
"""One microphone's settings; the `type` key picks the source."""

_ADAPTER: TypeAdapter[PyAudioMicrophone | WavMicrophone] = TypeAdapter(MicrophoneConfig)


def microphone_config(data: Mapping[str, Any]) -> PyAudioMicrophone | WavMicrophone:
    """Validate one microphone's settings (a TOML table); raises pydantic's ValidationError naming the key."""
    return _ADAPTER.validate_python(dict(data))
