"""Errors of the microphone adapters; each message names the device or file and what was wrong."""

from __future__ import annotations


class AudioError(RuntimeError):
    """An audio source cannot be opened or read."""


class AudioFormatError(AudioError):
    """A WAV file is not in a format the kiosk can use, and the message says which property and what to do.

    e.g. "WAV file report.wav: 8-bit samples, expected 16-bit PCM; convert it, e.g. `sox report.wav -b 16 out.wav`".
    """


class AudioDeviceError(AudioError):
    """No usable input device: none present, the one asked for is missing, or it cannot record 16 kHz mono."""
