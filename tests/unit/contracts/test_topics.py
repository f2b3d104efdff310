"""Topic names: builders, parser, and the kind <-> type mappings."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    INGEST_SHARED_SUBSCRIPTION,
    KIND_FOR_TYPE,
    PREFIX,
    TYPE_FOR_KIND,
    ContractError,
    Topic,
    cmd_topic,
    decode_object,
    dev_topic,
    is_device_id,
    parse_topic,
    topic_for,
)
from contracts.messages import MODEL_FOR_TYPE
from tests.unit.contracts.samples import SAMPLES, TOPICS
from tests.unit.contracts.strategies import device_ids

DEV_KINDS = ["sighting", "checkin", "report", "rollcall", "fix", "alarm", "status"]
CMD_KINDS = ["rollcall", "gallery"]
BAD_DEVICE_IDS = [
    "",
    "a/b",
    "a+b",
    "a#b",
    "+",
    "#",
    "a b",
    "-lead",
    ".lead",
    "_lead",
    "x" * 65,
    "é",
    "a\n",
    "a\x00",
]


def test_constants():
    """The prefix and the ingest workers' shared subscription are as documented."""
    assert PREFIX == "corr/v1"
    assert INGEST_SHARED_SUBSCRIPTION == "$share/central/corr/v1/dev/+/+"


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (dev_topic("gw-gt06-01", "fix"), "corr/v1/dev/gw-gt06-01/fix"),
        (dev_topic("kiosk.siming_02", "report"), "corr/v1/dev/kiosk.siming_02/report"),
        (cmd_topic("kiosk-siming-02", "rollcall"), "corr/v1/cmd/kiosk-siming-02/rollcall"),
        (cmd_topic("edge-haicang-01", "gallery"), "corr/v1/cmd/edge-haicang-01/gallery"),
    ],
)
def test_builders(built, expected):
    """dev_topic and cmd_topic put direction, device and kind in place."""
    assert built == expected


@given(device_ids, st.sampled_from(DEV_KINDS))
def test_dev_topic_round_trips(device_id, kind):
    """parse_topic gives back what dev_topic was built from."""
    assert parse_topic(dev_topic(device_id, kind)) == Topic("dev", device_id, kind)


@given(device_ids, st.sampled_from(CMD_KINDS))
def test_cmd_topic_round_trips(device_id, kind):
    """parse_topic gives back what cmd_topic was built from."""
    assert parse_topic(cmd_topic(device_id, kind)) == Topic("cmd", device_id, kind)


@given(device_ids)
def test_device_id_pattern_accepts_generated_ids(device_id):
    """Every id matching the documented pattern is accepted."""
    assert is_device_id(device_id)


@pytest.mark.parametrize("device_id", BAD_DEVICE_IDS)
def test_builders_reject_bad_device_ids(device_id):
    """A device id that is not one safe topic level is refused when building a topic."""
    with pytest.raises(ContractError, match=r"device id .* is not valid, expected 1 to 64 letters"):
        dev_topic(device_id, "fix")
    with pytest.raises(ContractError, match=r"device id .* is not valid"):
        cmd_topic(device_id, "gallery")


@pytest.mark.parametrize("device_id", [d for d in BAD_DEVICE_IDS if "/" not in d])
def test_parser_rejects_bad_device_ids(device_id):
    """A topic whose device level is not a valid device id is refused."""
    with pytest.raises(ContractError, match=r"device id .* is not valid"):
        parse_topic(f"corr/v1/dev/{device_id}/fix")


@pytest.mark.parametrize(
    ("direction", "kind"),
    [("dev", "gallery"), ("cmd", "fix"), ("dev", "Fix"), ("cmd", ""), ("dev", "voice_report")],
)
def test_builders_reject_unknown_kinds(direction, kind):
    """Only the documented kinds exist, each in its own direction."""
    build = dev_topic if direction == "dev" else cmd_topic
    with pytest.raises(ContractError, match=f"unknown {direction} topic kind '{kind}', expected one of"):
        build("gw-1", kind)


@pytest.mark.parametrize(
    ("topic", "fragment"),
    [
        ("", "topic '' does not start with 'corr/v1/', expected corr/v1/<dev|cmd>/<device id>/<kind>"),
        ("corr/v2/dev/gw-1/fix", "does not start with 'corr/v1/'"),
        ("/corr/v1/dev/gw-1/fix", "does not start with 'corr/v1/'"),
        ("corr/v1/dev/gw-1", "has 4 levels, expected 5"),
        ("corr/v1/dev/gw-1/fix/extra", "has 6 levels, expected 5"),
        ("corr/v1/dev/gw-1/fix/", "has 6 levels, expected 5"),
        ("corr/v1/up/gw-1/fix", "unknown direction 'up', expected 'dev' or 'cmd'"),
        ("corr/v1/dev/gw-1/gallery", "unknown dev topic kind 'gallery', expected one of 'alarm', 'checkin'"),
        ("corr/v1/cmd/gw-1/fix", "unknown cmd topic kind 'fix', expected one of 'gallery', 'rollcall'"),
        ("corr/v1/dev/+/fix", "device id '+' is not valid"),
        ("corr/v1/dev//fix", "device id '' is not valid"),
        (INGEST_SHARED_SUBSCRIPTION, "does not start with 'corr/v1/'"),
    ],
)
def test_parser_rejects_other_topics(topic, fragment):
    """Anything but corr/v1/<dev|cmd>/<device>/<kind> is refused with the reason."""
    with pytest.raises(ContractError, match="topic") as caught:
        parse_topic(topic)
    assert fragment in str(caught.value)
    assert caught.value.field is None


def test_mappings_are_inverse_and_cover_every_message_type():
    """Each message type has exactly one topic kind and each kind one type."""
    assert set(KIND_FOR_TYPE) == set(MODEL_FOR_TYPE)
    assert {t: k for k, t in TYPE_FOR_KIND.items()} == dict(KIND_FOR_TYPE)
    assert sorted(k for d, k in TYPE_FOR_KIND if d == "dev") == sorted(DEV_KINDS)
    assert sorted(k for d, k in TYPE_FOR_KIND if d == "cmd") == sorted(CMD_KINDS)


@pytest.mark.parametrize("message_type", sorted(SAMPLES))
def test_topic_for(message_type):
    """topic_for picks direction and kind from the type, the device level from device_id."""
    assert topic_for(decode_object(SAMPLES[message_type])) == TOPICS[message_type]


def test_topic_for_unknown_type():
    """An object with an unknown type has no topic."""

    class Stray:
        type = "selfie"
        device_id = "gw-1"

    with pytest.raises(ContractError, match="field 'type': unknown message type 'selfie'"):
        topic_for(Stray())
