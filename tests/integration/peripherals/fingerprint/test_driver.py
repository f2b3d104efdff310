"""The driver against the simulator over a real pty: the kiosk's operations, noise, damage, timeouts, unplug."""

from __future__ import annotations

import re

import pytest

from peripherals.fingerprint.driver import (
    DeviceGone,
    FingerprintError,
    FingerprintSensor,
    FingerprintTimeout,
    SearchHit,
    SensorError,
    Verification,
)
from peripherals.fingerprint.protocol import Confirmation, GenImg
from peripherals.fingerprint.sim import FingerprintSimulator, finger_template, template_score

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

ALICE = "alice-right-index"
ALICE_SCORE = template_score(finger_template(ALICE))


def test_handshake_reads_the_system_parameters(sensor):
    """The handshake learns library size and packet size from the sensor."""
    assert (sensor.parameters.library_size, sensor.parameters.packet_size) == (300, 128)


def test_enrol_then_verify_and_search(simulator, sensor):
    """Two presses enrol a finger at a page; the same finger then verifies against it and is found by search."""
    simulator.press_finger(ALICE, times=2)
    sensor.enrol(5, timeout=2)
    assert simulator.library() == {5: finger_template(ALICE)}
    assert sensor.template_count() == 1

    simulator.press_finger(ALICE)
    assert sensor.verify(5, timeout=2) == Verification(matched=True, score=ALICE_SCORE)
    simulator.press_finger(ALICE)
    assert sensor.search(timeout=2) == SearchHit(page=5, score=ALICE_SCORE)


def test_unknown_finger_is_not_matched(simulator, sensor):
    """A finger nobody enrolled fails verification with score 0 and is not found by search."""
    simulator.enrol(5, ALICE)
    simulator.press_finger("stranger-left-thumb")
    assert sensor.verify(5, timeout=2) == Verification(matched=False, score=0)
    simulator.press_finger("stranger-left-thumb")
    assert sensor.search(timeout=2) is None


def test_template_upload_download_round_trip(simulator, sensor):
    """A template read out over several data packets, wiped, and written back still verifies."""
    simulator.enrol(3, ALICE)
    template = sensor.upload_template(3)
    assert template == finger_template(ALICE)  # 512 bytes: four 128-byte data packets
    sensor.empty()
    assert sensor.template_count() == 0
    sensor.download_template(9, template)
    assert simulator.library() == {9: template}
    simulator.press_finger(ALICE)
    assert sensor.verify(9, timeout=2).matched


def test_delete_removes_a_template(simulator, sensor):
    """A deleted page no longer verifies: loading it fails with the sensor's reason."""
    simulator.enrol(3, ALICE)
    sensor.delete(3)
    with pytest.raises(SensorError) as caught:
        sensor.verify(3, timeout=2)
    assert caught.value.code is Confirmation.TEMPLATE_READ_FAILED
    assert str(caught.value) == (
        "LoadChar: sensor answered 0x0C TEMPLATE_READ_FAILED: "
        "error reading the template from the library, or the template is invalid"
    )


def test_garbage_before_the_header_is_skipped(simulator, sensor):
    """Noise on the line before a reply is skipped and counted; the reply is still read."""
    simulator.enrol(3, ALICE)
    garbage = b"\x00\xff\x13\x37 boot banner \r\n\xef\x00"
    simulator.inject_garbage(garbage)
    assert sensor.template_count() == 1
    assert sensor.skipped_bytes == len(garbage)


def test_split_packets_are_joined(simulator, sensor):
    """Replies arriving a few bytes at a time, multi-packet upload included, come out whole."""
    simulator.enrol(3, ALICE)
    simulator.split_replies(3)
    assert sensor.template_count() == 1
    assert sensor.upload_template(3) == finger_template(ALICE)


def test_a_damaged_reply_is_asked_for_again(simulator, sensor):
    """One reply with a bad checksum costs one repeat of the command, not the operation."""
    simulator.enrol(3, ALICE)
    simulator.corrupt_replies(1)
    assert sensor.template_count() == 1
    assert sensor.corrupt_replies == 1


def test_damaged_replies_every_time_end_in_a_clear_error(simulator, sensor):
    """When every attempt is damaged the error names the command and the checksum."""
    simulator.corrupt_replies(2)
    with pytest.raises(FingerprintError) as caught:
        sensor.template_count()
    assert str(caught.value).startswith("TemplateNum: no intact reply in 2 attempts; last: checksum: packet says 0x")


def test_finger_never_placed_times_out(simulator, sensor):
    """Nobody puts a finger down: the capture ends with a timeout that says so, not a hang."""
    with pytest.raises(FingerprintTimeout, match=r"^no finger placed on the sensor within 0\.3 s$"):
        sensor.search(timeout=0.3)
    assert all(isinstance(p, GenImg) for p in simulator.received[-3:])


def test_finger_never_lifted_during_enrolment_times_out(simulator, sensor):
    """A finger left resting after the first capture is not taken as the second press."""
    simulator.place_finger(ALICE)
    with pytest.raises(FingerprintTimeout, match=re.escape("finger not lifted from the sensor within 0.3 s")):
        sensor.enrol(1, timeout=0.3)
    assert simulator.library() == {}


def test_silent_sensor_times_out(simulator, sensor):
    """A reply that never comes ends in a timeout naming the command."""
    simulator.delay_replies(5 * sensor.reply_timeout)
    with pytest.raises(FingerprintTimeout, match=r"^no reply to TemplateNum within 1 s$"):
        sensor.template_count()


def test_unplugged_sensor_is_reported(simulator, sensor):
    """When the device disappears the next operation raises DeviceGone naming the port."""
    simulator.unplug()
    with pytest.raises(DeviceGone, match=f"^{re.escape(simulator.port)}: .* failed, the sensor is unplugged or gone"):
        sensor.template_count()


def test_missing_port_is_reported():
    """Opening a port that does not exist raises DeviceGone, not a pyserial exception."""
    with pytest.raises(DeviceGone, match=r"^cannot open /dev/nonexistent-fingerprint: "):
        FingerprintSensor("/dev/nonexistent-fingerprint")


def test_password_and_address():
    """A sensor with its own address and password works once both are given, and not with a wrong password."""
    with FingerprintSimulator(address=0x12345678, password=0xCAFE) as sim:
        with FingerprintSensor(sim.port, address=0x12345678, password=0xCAFE, reply_timeout=1.0) as good:
            assert good.handshake().address == 0x12345678
        with FingerprintSensor(sim.port, address=0x12345678, password=1, reply_timeout=1.0) as bad:
            with pytest.raises(SensorError) as caught:
                bad.handshake()
            assert caught.value.code is Confirmation.WRONG_PASSWORD


def test_packets_for_another_address_get_no_answer():
    """The chip ignores a packet for another address, so a driver with the wrong one times out."""
    with (
        FingerprintSimulator(address=0x12345678) as sim,
        FingerprintSensor(sim.port, reply_timeout=0.3) as driver,
        pytest.raises(FingerprintTimeout, match=re.escape("no reply to VfyPwd within 0.3 s")),
    ):
        driver.handshake()


def test_enrol_refuses_a_page_outside_the_library_before_anyone_presses(simulator, sensor):
    """A page past the library is refused at once, without asking for a finger."""
    before = len(simulator.received)
    with pytest.raises(FingerprintError, match=r"^page 300: outside the fingerprint library, expected 0\.\.299$"):
        sensor.enrol(300, timeout=2)
    assert len(simulator.received) == before
