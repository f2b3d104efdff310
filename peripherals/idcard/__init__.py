"""Resident ID-card reader (二代证 SAM module, serial): codec, card decoding, driver and simulator."""

from typing import TYPE_CHECKING, Any

from peripherals.idcard.card import CardData, card_from_record
from peripherals.idcard.id_number import id_number_problem
from peripherals.idcard.photo import (
    PassThroughPhotoDecoder,
    Photo,
    PhotoDecoder,
    PhotoUnavailable,
    VendorLibraryPhotoDecoder,
)
from peripherals.idcard.protocol import (
    FIND_CARD,
    READ_APPENDED_ADDRESS,
    READ_TEXT_PHOTO,
    READ_TEXT_PHOTO_FINGERPRINT,
    SAM_ID,
    SAM_RESET,
    SAM_STATUS,
    SELECT_CARD,
    SET_MAX_RF_BYTES,
    CardRecord,
    Command,
    Frame,
    FrameParser,
    Reply,
    Status,
    decode,
    decode_command,
    decode_reply,
    encode,
)
from peripherals.idcard.sim import IdCardSimulator, SimCard, load_cards
from peripherals.idcard.text import CardText, decode_text, encode_text

if TYPE_CHECKING:
    from peripherals.idcard.driver import (
        CardPresented,
        CardReadError,
        IdCardReader,
        ReaderError,
        ReaderEvent,
        ReaderGone,
        ReaderOffline,
        ReaderOnline,
        ReaderSettings,
        ReaderTimeout,
        ReadFailed,
    )

_DRIVER_NAMES = frozenset(
    {
        "CardPresented",
        "CardReadError",
        "IdCardReader",
        "ReaderError",
        "ReaderEvent",
        "ReaderGone",
        "ReaderOffline",
        "ReaderOnline",
        "ReaderSettings",
        "ReaderTimeout",
        "ReadFailed",
    }
)


def __getattr__(name: str) -> Any:
    # The driver needs pyserial (a kiosk extra); the codec, the CLI and the simulator do not, so
    # `python -m peripherals.idcard` works wherever the base package is installed.
    if name in _DRIVER_NAMES:
        from peripherals.idcard import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FIND_CARD",
    "READ_APPENDED_ADDRESS",
    "READ_TEXT_PHOTO",
    "READ_TEXT_PHOTO_FINGERPRINT",
    "SAM_ID",
    "SAM_RESET",
    "SAM_STATUS",
    "SELECT_CARD",
    "SET_MAX_RF_BYTES",
    "CardData",
    "CardPresented",
    "CardReadError",
    "CardRecord",
    "CardText",
    "Command",
    "Frame",
    "FrameParser",
    "IdCardReader",
    "IdCardSimulator",
    "PassThroughPhotoDecoder",
    "Photo",
    "PhotoDecoder",
    "PhotoUnavailable",
    "ReadFailed",
    "ReaderError",
    "ReaderEvent",
    "ReaderGone",
    "ReaderOffline",
    "ReaderOnline",
    "ReaderSettings",
    "ReaderTimeout",
    "Reply",
    "SimCard",
    "Status",
    "VendorLibraryPhotoDecoder",
    "card_from_record",
    "decode",
    "decode_command",
    "decode_reply",
    "decode_text",
    "encode",
    "encode_text",
    "id_number_problem",
    "load_cards",
]
