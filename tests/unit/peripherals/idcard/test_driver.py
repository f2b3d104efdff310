"""Reader settings, checked once: errors name the key and the bad value (the driver is tested over a pty)."""

from __future__ import annotations

import pytest

from peripherals.idcard.driver import ReaderSettings


def test_defaults():
    """A port is all a real reader needs: 115200 baud and patient timeouts."""
    settings = ReaderSettings(port="/dev/ttyUSB0")
    assert (settings.baudrate, settings.read_timeout_s, settings.retries) == (115200, 3.0, 2)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"port": ""}, "reader setting port='': expected a serial port path such as /dev/ttyUSB0"),
        ({"baudrate": 12345}, "reader setting baudrate=12345: expected a standard rate such as 115200"),
        ({"command_timeout_s": 0}, "reader setting command_timeout_s=0: expected a number of seconds > 0"),
        ({"read_timeout_s": -1.0}, "reader setting read_timeout_s=-1.0: expected a number of seconds > 0"),
        ({"poll_interval_s": float("nan")}, "reader setting poll_interval_s=nan: expected a number of seconds > 0"),
        ({"retries": -1}, "reader setting retries=-1: expected 0 or more"),
    ],
)
def test_bad_settings(changes, expected):
    """Each bad value is refused with the key, the value and what was expected."""
    fields = {"port": "/dev/ttyUSB0", **changes}
    with pytest.raises(ValueError, match=r"^reader setting") as caught:
        ReaderSettings(**fields)
    assert str(caught.value) == expected
