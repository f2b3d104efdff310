"""The ID-card reader's driver: poll for a card, publish it once read, answer `read_card`.

The polling follows `IdCardReader.watch` (find → select → read; while a card stays, only "find"),
but step by step, so commands can run between polls on the same thread. A reader that stops
answering or whose port disappears raises, and the supervisor reopens it.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from pydantic import BaseModel

from kiosk.devices.config import IdCardSection
from kiosk.devices.protocol import CardFields, CardResult, ReadCardArgs, Request
from kiosk.devices.supervisor import CommandFailed, DeviceFailure, Driver, Emit
from peripherals.errors import ProtocolError
from peripherals.idcard import (
    FIND_CARD,
    CardData,
    PassThroughPhotoDecoder,
    PhotoDecoder,
    Status,
    VendorLibraryPhotoDecoder,
)
from peripherals.idcard.driver import IdCardReader, ReaderError, ReaderGone, ReaderSettings, ReaderTimeout


def card_fields(card: CardData, *, vendor_decoder: bool, include_photo: bool = True) -> dict[str, Any]:
    """A card as the protocol's CardFields (JSON-ready), photo as base64 when asked for and decoded."""
    fields = card.as_dict()
    fields["photo_decoder_available"] = vendor_decoder
    fields["photo"] = (
        base64.b64encode(card.photo.data).decode("ascii") if include_photo and card.photo is not None else None
    )
    return CardFields.model_validate(fields).model_dump(mode="json")


class IdCardDriver(Driver):
    """One SAM reader on a serial port."""

    def __init__(self, settings: IdCardSection, emit: Emit) -> None:
        self.settings = settings
        self.poll_interval_s = settings.poll_interval_s
        self._emit = emit
        decoders: list[PhotoDecoder] = []
        self._vendor = settings.photo_library is not None
        if settings.photo_library is not None:
            # A library that does not load is refused here, so the driver fails with that reason.
            decoders.append(
                VendorLibraryPhotoDecoder(
                    settings.photo_library,
                    settings.photo_function,
                    argument=settings.photo_argument,
                    success=settings.photo_success,
                )
            )
        decoders.append(PassThroughPhotoDecoder())
        self._reader = IdCardReader(
            ReaderSettings(
                port=settings.port,
                baudrate=settings.baudrate,
                command_timeout_s=settings.command_timeout_s,
                read_timeout_s=settings.read_timeout_s,
                retries=settings.retries,
                poll_interval_s=settings.poll_interval_s,
                fingerprint=settings.fingerprint,
            ),
            decoders,
        )
        self._card: CardData | None = None
        self._last_problem: str | None = None

    def open(self) -> None:
        """Open the port and check the SAM reports itself ready."""
        self._reader.open()

    def close(self) -> None:
        """Close the port."""
        self._reader.close()

    def details(self) -> dict[str, Any]:
        """Port, whether a card is on the reader, the last read problem."""
        card = self._card
        return {
            "port": self.settings.port,
            "card_present": card is not None,
            "vendor_photo_decoder": self._vendor,
            "last_problem": self._last_problem,
        }

    def poll(self) -> None:
        """Look for a card: publish card_inserted once it is read, card_removed when it is no longer found."""
        self._step()

    def _step(self) -> CardData | None:
        try:
            if self._card is not None:
                if self._reader.transact(FIND_CARD).status is not Status.CARD_FOUND:
                    gone, self._card = self._card, None
                    self._emit("card_removed", {"id_number": gone.id_number})
                return self._card
            card = self._reader.read_card()
        except (ReaderGone, ReaderTimeout) as exc:
            raise DeviceFailure(str(exc)) from exc
        except (ReaderError, ProtocolError) as exc:
            # A card that could not be read (moved away mid-read, a status the SAM gave): try again next
            # poll, and say so once rather than at every poll.
            if str(exc) != self._last_problem:
                self._last_problem = str(exc)
                self._emit("card_read_failed", {"reason": str(exc)})
            return None
        if card is None:
            self._last_problem = None
        else:
            self._card = card
            self._last_problem = None
            self._emit("card_inserted", {"card": card_fields(card, vendor_decoder=self._vendor)})
        return card

    def handle(self, request: Request, deadline: float) -> BaseModel:
        """read_card: the card on the reader, or the next one within `wait_s`."""
        args = request.args
        if not isinstance(args, ReadCardArgs):
            raise CommandFailed("bad_request", f"{request.command}: not a card reader command")
        wait_until = min(time.monotonic() + args.wait_s, deadline)
        while True:
            card = self._card if self._card is not None else self._step()
            if card is not None:
                fields = card_fields(card, vendor_decoder=self._vendor, include_photo=args.include_photo)
                return CardResult.model_validate({"card": fields})
            left = wait_until - time.monotonic()
            if left <= 0:
                return CardResult(card=None)
            time.sleep(min(self.poll_interval_s, left))
