"""The package's public names, the driver and simulator among them."""

from __future__ import annotations

import pytest

import peripherals.fingerprint as fingerprint


def test_every_public_name_resolves():
    """Each name in __all__ is importable from the package, the lazy driver and simulator names too."""
    for name in fingerprint.__all__:
        assert getattr(fingerprint, name) is not None
    assert fingerprint.FingerprintSensor.__module__ == "peripherals.fingerprint.driver"
    assert fingerprint.FingerprintSimulator.__module__ == "peripherals.fingerprint.sim"


def test_unknown_attribute_is_an_attribute_error():
    """A misspelt name fails the usual way, naming the module."""
    with pytest.raises(AttributeError, match="has no attribute 'FingerprintSenser'"):
        _ = fingerprint.FingerprintSenser
