"""The kiosk machine around the flows: idle screen, offline banner, language switch, start-up."""

from __future__ import annotations

from kiosk.flows import boot, idle_view
from kiosk.flows.types import CentralOffline, CentralOnline, FaceCaptured, Screen, Show, Tick
from tests.unit.kiosk.driver import GOOD, T0, Driver, context


def test_boot_shows_the_idle_screen() -> None:
    """Start-up shows idle with the voice report and staff buttons; no timer runs at idle."""
    state, effects = boot(context(), T0)
    assert effects == [Show(idle_view())] and state.idle
    assert idle_view().button_ids() == ("voice_report", "staff")
    assert Driver().later(3600) == []


def test_offline_banner_on_every_screen_until_online() -> None:
    """Going offline re-shows the current screen with the banner; every later screen keeps it."""
    d = Driver()
    effects = d.send(CentralOffline)
    assert len(effects) == 1 and d.view.banner is not None and d.view.banner.id == "banner.offline"
    assert d.send(CentralOffline) == []  # no change, nothing shown
    d.verify_to_face()
    d.send(FaceCaptured, **GOOD)
    assert d.view.banner is not None  # the check-in goes on offline (the outbox holds the event)
    d.ack()
    assert d.screen() == Screen.RECEIPT and d.view.banner is not None
    d.send(CentralOnline)
    assert d.screen() == Screen.RECEIPT and d.view.banner is None


def test_language_switch_lasts_for_the_session_then_resets() -> None:
    """English chosen during a check-in stays for it; the next person starts in Chinese."""
    d = Driver()
    d.verify_to_face()
    d.touch("lang")
    assert d.lang() == "en" and d.screen() == Screen.FACE
    d.send(FaceCaptured, **GOOD)
    d.ack()
    assert d.lang() == "en"
    d.touch("ok")
    assert d.state.idle and d.lang() == "zh"


def test_language_chosen_at_idle_lapses() -> None:
    """Touching the language switch at idle and walking away: back to Chinese after the step timeout."""
    d = Driver()
    d.touch("lang")
    assert d.lang() == "en"
    d.later(29)
    assert d.lang() == "en"
    d.later(2)
    assert d.lang() == "zh" and d.state.idle


def test_ticks_at_idle_show_nothing() -> None:
    """An idle kiosk stays quiet."""
    d = Driver()
    assert d.feed(Tick(at=T0)) == []


def test_card_info_from_the_daemons_card_fields() -> None:
    """The runtime turns the device daemon's decoded card into the flows' CardInfo; bad fields are named."""
    import datetime as dt

    import pytest

    from kiosk.flows.types import CardInfo

    fields = {
        "id_number": "350205198001010011",
        "name": "张三",
        "valid_until": "2030-01-01",
        "id_number_valid": True,
        "photo": b"\xff\xd8jpeg",
        "sex": "男",
    }
    card = CardInfo.from_fields(fields)
    assert card == CardInfo("350205198001010011", "张三", dt.date(2030, 1, 1), True, b"\xff\xd8jpeg")
    assert CardInfo.from_fields(fields | {"valid_until": None, "photo": None}).valid_until is None
    assert CardInfo.from_fields(fields | {"valid_until": dt.date(2031, 2, 3)}).valid_until == dt.date(2031, 2, 3)
    with pytest.raises(ValueError, match="'id_number_valid' is missing"):
        CardInfo.from_fields({k: v for k, v in fields.items() if k != "id_number_valid"})
    with pytest.raises(ValueError, match="'valid_until' is not a date"):
        CardInfo.from_fields(fields | {"valid_until": "someday"})
    with pytest.raises(ValueError, match="'name' has the wrong type"):
        CardInfo.from_fields(fields | {"name": 3})
