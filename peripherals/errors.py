"""The one error every byte-protocol decoder raises."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A frame or packet that cannot be decoded; the message says what was wrong and what was expected.

    e.g. "bad preamble: got AA AA 00 96 69, expected AA AA AA 96 69" or
    "checksum: frame says 0x3C, bytes give 0x5A".
    """
