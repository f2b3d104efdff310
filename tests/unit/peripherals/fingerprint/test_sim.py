"""The simulated sensor's answers to each instruction, without a pty."""

from __future__ import annotations

import pytest

from peripherals.fingerprint.protocol import (
    Ack,
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
    ReadSysPara,
    RegModel,
    Search,
    Store,
    SystemParameters,
    TemplateNum,
    UpChar,
    VfyPwd,
    reply_fields,
    split_data,
)
from peripherals.fingerprint.sim import TEMPLATE_SIZE, SimulatedSensor, finger_template, template_score

ALICE = "alice-right-index"


def ack(sensor: SimulatedSensor, command) -> Ack:
    """The single ack the sensor answers `command` with."""
    (answer,) = sensor.handle(command)
    assert isinstance(answer, Ack)
    return answer


def code(sensor: SimulatedSensor, command) -> Confirmation:
    """The confirmation code of that ack."""
    return ack(sensor, command).code


def captured(sensor: SimulatedSensor, name: str, buffer: int) -> None:
    """Puts `name`'s character file into `buffer` the way a driver would: GenImg then Img2Tz."""
    sensor.place_finger(name)
    assert code(sensor, GenImg()) is Confirmation.OK
    assert code(sensor, Img2Tz(buffer=buffer)) is Confirmation.OK
    sensor.lift_finger()


def test_templates_are_fixed_by_the_finger_name():
    """A finger's template is 512 bytes, the same every time, different for another finger."""
    assert len(finger_template(ALICE)) == TEMPLATE_SIZE
    assert finger_template(ALICE) == finger_template(ALICE)
    assert finger_template(ALICE) != finger_template("bob-left-thumb")
    assert 60 <= template_score(finger_template(ALICE)) <= 315


def test_no_finger_until_one_is_placed():
    """GenImg says no finger until a finger rests on the glass, and again after it is lifted."""
    sensor = SimulatedSensor()
    assert code(sensor, GenImg()) is Confirmation.NO_FINGER
    sensor.place_finger(ALICE)
    assert [code(sensor, GenImg()) for _ in range(3)] == [Confirmation.OK] * 3
    sensor.lift_finger()
    assert code(sensor, GenImg()) is Confirmation.NO_FINGER


def test_pressing_twice_lifts_between_captures():
    """Two presses read as captured, lifted, captured, gone: what an enrolment loop sees."""
    sensor = SimulatedSensor()
    sensor.press_finger(ALICE, times=2)
    assert [code(sensor, GenImg()) for _ in range(4)] == [
        Confirmation.OK,
        Confirmation.NO_FINGER,
        Confirmation.OK,
        Confirmation.NO_FINGER,
    ]


def test_img2tz_needs_an_image():
    """Without a captured image there is nothing to turn into a character file."""
    assert code(SimulatedSensor(), Img2Tz(buffer=1)) is Confirmation.NO_VALID_IMAGE


def test_enrolment_sequence_stores_the_finger():
    """Two captures, RegModel and Store put the finger's template at the page."""
    sensor = SimulatedSensor()
    captured(sensor, ALICE, 1)
    captured(sensor, ALICE, 2)
    assert code(sensor, RegModel()) is Confirmation.OK
    assert code(sensor, Store(buffer=1, page=4)) is Confirmation.OK
    assert sensor.library == {4: finger_template(ALICE)}


def test_regmodel_refuses_two_different_fingers():
    """Captures of two different fingers do not combine."""
    sensor = SimulatedSensor()
    captured(sensor, ALICE, 1)
    captured(sensor, "bob-left-thumb", 2)
    assert code(sensor, RegModel()) is Confirmation.ENROL_MISMATCH


def test_match_scores_the_same_finger_and_refuses_another():
    """Match gives the finger's score for the same finger, NO_MATCH with a zero score otherwise."""
    sensor = SimulatedSensor()
    sensor.enrol(0, ALICE)
    captured(sensor, ALICE, 1)
    assert code(sensor, LoadChar(buffer=2, page=0)) is Confirmation.OK
    answer = ack(sensor, Match())
    assert answer.code is Confirmation.OK
    assert reply_fields(Instruction.MATCH, answer) == {"score": template_score(finger_template(ALICE))}
    captured(sensor, "mallory", 1)
    answer = ack(sensor, Match())
    assert (answer.code, reply_fields(Instruction.MATCH, answer)) == (Confirmation.NO_MATCH, {"score": 0})


def test_search_finds_the_page_within_the_range_only():
    """Search returns the page holding the finger, and NOT_FOUND outside the range or for an unknown finger."""
    sensor = SimulatedSensor()
    sensor.enrol(7, "bob-left-thumb")
    sensor.enrol(12, ALICE)
    captured(sensor, ALICE, 1)
    answer = ack(sensor, Search(buffer=1, start=0, count=300))
    assert reply_fields(Instruction.SEARCH, answer) == {"page": 12, "score": template_score(finger_template(ALICE))}
    assert code(sensor, Search(buffer=1, start=0, count=12)) is Confirmation.NOT_FOUND
    captured(sensor, "stranger", 1)
    answer = ack(sensor, Search(buffer=1, start=0, count=300))
    assert (answer.code, answer.data) == (Confirmation.NOT_FOUND, bytes(4))


def test_library_bounds_and_empty_pages():
    """Pages past the library are BAD_LOCATION, an empty page cannot be loaded."""
    sensor = SimulatedSensor(library_size=10)
    captured(sensor, ALICE, 1)
    assert code(sensor, Store(buffer=1, page=10)) is Confirmation.BAD_LOCATION
    assert code(sensor, LoadChar(buffer=1, page=10)) is Confirmation.BAD_LOCATION
    assert code(sensor, LoadChar(buffer=1, page=3)) is Confirmation.TEMPLATE_READ_FAILED
    assert code(sensor, DeleteChar(page=9, count=2)) is Confirmation.BAD_LOCATION


def test_upchar_sends_the_buffer_as_data_packets():
    """UpChar answers OK then the template in packets of the configured size, the last marked."""
    sensor = SimulatedSensor(packet_size=64)
    assert sensor.handle(UpChar(buffer=1)) == [Ack(code=Confirmation.UPLOAD_FEATURE_FAILED)]
    captured(sensor, ALICE, 1)
    first, *data = sensor.handle(UpChar(buffer=1))
    assert first == Ack(code=Confirmation.OK)
    assert data == split_data(finger_template(ALICE), 64)


def test_downchar_takes_the_following_data_packets():
    """After DownChar the data packets fill the buffer, with no answer to each of them."""
    sensor = SimulatedSensor()
    assert code(sensor, DownChar(buffer=2)) is Confirmation.OK
    template = finger_template(ALICE)
    assert [sensor.handle(packet) for packet in split_data(template, 128)] == [[]] * 4
    assert sensor.buffers[2] == template
    assert sensor.handle(Data(payload=b"stray", last=True)) == []
    assert sensor.buffers[2] == template


def test_other_buffer_ids_mean_buffer_two():
    """As the manual says, any BufferID but 1 is CharBuffer2."""
    sensor = SimulatedSensor()
    captured(sensor, ALICE, 9)
    assert sensor.buffers == {2: finger_template(ALICE)}


def test_delete_empty_and_count():
    """DeleteChar removes a range, Empty removes all, TemplateNum counts what is left."""
    sensor = SimulatedSensor()
    for page, name in enumerate(["a", "b", "c", "d"]):
        sensor.enrol(page, name)
    assert code(sensor, DeleteChar(page=1, count=2)) is Confirmation.OK
    assert sorted(sensor.library) == [0, 3]
    assert reply_fields(Instruction.TEMPLATE_NUM, ack(sensor, TemplateNum())) == {"count": 2}
    assert code(sensor, Empty()) is Confirmation.OK
    assert reply_fields(Instruction.TEMPLATE_NUM, ack(sensor, TemplateNum())) == {"count": 0}


def test_read_sys_para_reports_the_configuration():
    """ReadSysPara carries the library size, packet size, address and baud rate it was made with."""
    sensor = SimulatedSensor(address=0x12345678, library_size=1000, packet_size=256)
    params = SystemParameters.from_ack(ack(sensor, ReadSysPara(address=0x12345678)))
    assert (params.library_size, params.packet_size, params.address, params.baudrate) == (
        1000,
        256,
        0x12345678,
        57600,
    )


@pytest.mark.parametrize(
    ("attempt", "then"),
    [(0x1234, Confirmation.OK), (0x4321, Confirmation.PASSWORD_REQUIRED)],
)
def test_password_gates_every_command(attempt, then):
    """With a password set, commands are refused until VfyPwd presents the right one."""
    sensor = SimulatedSensor(password=0x1234)
    assert code(sensor, TemplateNum()) is Confirmation.PASSWORD_REQUIRED
    expected = Confirmation.OK if attempt == 0x1234 else Confirmation.WRONG_PASSWORD
    assert code(sensor, VfyPwd(password=attempt)) is expected
    assert code(sensor, TemplateNum()) is then


def test_answers_come_from_the_sensor_address():
    """Every ack carries the sensor's own address."""
    sensor = SimulatedSensor(address=0x0BADF00D)
    assert ack(sensor, GenImg(address=0x0BADF00D)).address == 0x0BADF00D
