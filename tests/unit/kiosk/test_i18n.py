"""The message catalogue: both languages for every id a flow can emit, the same parameters, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk.flows.types import msg
from kiosk.flows.verify import QUALITY_HINTS
from kiosk.i18n import CATALOGUE, LANGS, MessageError, fields, render

FLOWS = Path(__file__).resolve().parents[3] / "kiosk" / "flows"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def emitted_ids() -> set[str]:
    """Every message id written in the flows' source, with the f-string families expanded."""
    ids: set[str] = set()
    for source in FLOWS.glob("*.py"):
        ids |= set(re.findall(r'msg\(\s*"([a-z_.]+)"', source.read_text(encoding="utf-8")))
    ids |= {f"face.hint.{code}" for code in QUALITY_HINTS}
    ids |= {f"device.{d}" for d in ("camera", "fingerprint", "card_reader", "microphone", "device")}
    ids |= {f"enrol.pose.{p}" for p in ("front", "left", "right")}
    return ids


def test_every_emitted_id_is_in_the_catalogue() -> None:
    """No flow can show an id the UI cannot render."""
    ids = emitted_ids()
    assert len(ids) > 80
    assert sorted(ids - set(CATALOGUE)) == []


def test_every_catalogue_id_is_used() -> None:
    """No dead entries: each text is reachable from some flow."""
    assert sorted(set(CATALOGUE) - emitted_ids()) == []


@pytest.mark.parametrize("message_id", sorted(CATALOGUE))
def test_both_languages_with_the_same_parameters(message_id: str) -> None:
    """Chinese and English exist, are non-empty, name the same parameters; Chinese is Chinese."""
    zh, en = CATALOGUE[message_id]["zh"], CATALOGUE[message_id]["en"]
    assert zh.strip() and en.strip()
    assert fields(zh) == fields(en)
    assert _CJK.search(zh), f"{message_id}: the Chinese text has no Chinese"
    assert not _CJK.search(en), f"{message_id}: the English text has Chinese in it"


def test_render_with_parameters_and_nested_messages() -> None:
    """Parameters are filled; a nested message (the device) is rendered in the same language."""
    failure = msg("refusal.device_failure", device=msg("device.camera"))
    assert render(failure, "zh") == "摄像头故障，请联系工作人员"
    assert render(failure, "en") == "The camera failed; please ask staff"
    assert render(msg("checkin.accepted", name="张三"), "en") == "张三, you are checked in"
    assert set(LANGS) == {"zh", "en"}


def test_unknown_id_and_missing_parameter_are_named() -> None:
    """A bad message says which id or which parameter."""
    with pytest.raises(MessageError, match="'nope' is not in the kiosk catalogue"):
        render(msg("nope"))
    with pytest.raises(MessageError, match=r"'checkin.accepted' needs parameter\(s\) \['name'\]"):
        render(msg("checkin.accepted"), "en")
