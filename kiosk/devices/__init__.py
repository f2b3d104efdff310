"""The kiosk's device daemon (`corr-kiosk-devices`) and the client the UI talks to it with.

`protocol` (pure wire messages) and `config` load at once; the client and the daemon, which need
pyzmq, load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kiosk.devices.protocol import DeviceProtocolError

if TYPE_CHECKING:
    from kiosk.devices.client import CommandRefused, DeviceClient, DeviceClientError, DeviceUnavailable

_LAZY = {
    "CommandRefused": "kiosk.devices.client",
    "DeviceClient": "kiosk.devices.client",
    "DeviceClientError": "kiosk.devices.client",
    "DeviceUnavailable": "kiosk.devices.client",
}

__all__ = ["CommandRefused", "DeviceClient", "DeviceClientError", "DeviceProtocolError", "DeviceUnavailable"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiosk.devices' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
