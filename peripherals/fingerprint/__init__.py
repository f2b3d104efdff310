"""AS608 / R30x fingerprint sensor: packet codec, pyserial driver and a pty simulator.

The codec is imported eagerly; the driver and simulator only when first used, so decoding
packets (the CLI, central-side tools) does not need pyserial or a POSIX terminal module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from peripherals.errors import ProtocolError
from peripherals.fingerprint.protocol import (
    COMMANDS,
    DEFAULT_ADDRESS,
    Ack,
    Command,
    Confirmation,
    Data,
    DeleteChar,
    DownChar,
    Empty,
    GenImg,
    Img2Tz,
    Instruction,
    LoadChar,
    Match,
    Packet,
    PacketParser,
    PacketType,
    ReadSysPara,
    RegModel,
    Search,
    Store,
    SystemParameters,
    TemplateNum,
    UpChar,
    VfyPwd,
    decode,
    encode,
    reply,
    reply_fields,
    split_data,
)

if TYPE_CHECKING:
    from peripherals.fingerprint.driver import (
        DeviceGone,
        FingerprintError,
        FingerprintSensor,
        FingerprintTimeout,
        SearchHit,
        SensorError,
        Verification,
    )
    from peripherals.fingerprint.sim import FingerprintSimulator, SimulatedSensor, finger_template

_LAZY = {
    "DeviceGone": "driver",
    "FingerprintError": "driver",
    "FingerprintSensor": "driver",
    "FingerprintTimeout": "driver",
    "SearchHit": "driver",
    "SensorError": "driver",
    "Verification": "driver",
    "FingerprintSimulator": "sim",
    "SimulatedSensor": "sim",
    "finger_template": "sim",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMMANDS",
    "DEFAULT_ADDRESS",
    "Ack",
    "Command",
    "Confirmation",
    "Data",
    "DeleteChar",
    "DeviceGone",
    "DownChar",
    "Empty",
    "FingerprintError",
    "FingerprintSensor",
    "FingerprintSimulator",
    "FingerprintTimeout",
    "GenImg",
    "Img2Tz",
    "Instruction",
    "LoadChar",
    "Match",
    "Packet",
    "PacketParser",
    "PacketType",
    "ProtocolError",
    "ReadSysPara",
    "RegModel",
    "Search",
    "SearchHit",
    "SensorError",
    "SimulatedSensor",
    "Store",
    "SystemParameters",
    "TemplateNum",
    "UpChar",
    "Verification",
    "VfyPwd",
    "decode",
    "encode",
    "finger_template",
    "reply",
    "reply_fields",
    "split_data",
]
