"""Resident ID numbers: GB 11643-1999, 17 digits and an ISO 7064 MOD 11-2 check character."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.subjects import id_number_problem
from tests.unit.central.strategies import CHECK_CHARACTERS, DIGITS, id_bodies, id_numbers, iso7064_check

SHAPE = "expected 17 ASCII digits and a check character (digit or X)"


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",  # the worked example of GB 11643-1999
        "440524188001010014",  # a sample number widely published with the standard
    ],
)
def test_published_numbers_are_valid(number):
    """Published sample numbers pass, including one whose check character is X."""
    assert id_number_problem(number) is None


def test_independent_check_agrees_with_published_numbers():
    """The test's own MOD 11-2 computation reproduces the published check characters."""
    assert iso7064_check("11010519491231002") == "X"
    assert iso7064_check("44052418800101001") == "4"


@given(number=id_numbers)
def test_correct_check_character_is_accepted(number):
    """Any 17 digits followed by their MOD 11-2 check character are valid."""
    assert id_number_problem(number) is None


@given(body=id_bodies, data=st.data())
def test_every_wrong_check_character_is_detected(body, data):
    """Each of the ten wrong check characters is refused, naming the one given and the one expected."""
    right = iso7064_check(body)
    wrong = data.draw(st.sampled_from([c for c in CHECK_CHARACTERS if c != right]), label="wrong")
    assert id_number_problem(body + wrong) == f"check character is {wrong}, the first 17 digits give {right}"


@given(number=id_numbers, data=st.data())
def test_single_digit_change_in_body_is_detected(number, data):
    """Changing any one of the first 17 digits makes the check fail (MOD 11-2 catches every substitution)."""
    index = data.draw(st.integers(0, 16), label="index")
    digit = data.draw(st.sampled_from([d for d in DIGITS if d != number[index]]), label="digit")
    changed = number[:index] + digit + number[index + 1 :]
    assert id_number_problem(changed) is not None


@given(number=id_numbers, data=st.data())
def test_adjacent_swap_is_detected(number, data):
    """Swapping two different neighbouring digits (a common typing error) is caught."""
    index = data.draw(st.integers(0, 15), label="index")
    swapped = number[:index] + number[index + 1] + number[index] + number[index + 2 :]
    if swapped != number:
        assert id_number_problem(swapped) is not None


@pytest.mark.parametrize(
    "number",
    [
        "",
        "11010519491231002",  # 17 characters: check character missing
        "11010519491231002X0",  # 19 characters
        "110105194912310X2X",  # X inside the body
        "11010519491231002x",  # lower-case x: callers normalise first
        "1101051949123100 2X",
        "110105-19491231002X",
        "X1010519491231002X",
        "11010519491231002Y",
        "15010519491231002",
    ],
)
def test_wrong_shape_is_explained(number):
    """Wrong length or characters are refused with the expected shape, before any check arithmetic."""
    assert id_number_problem(number) == SHAPE


@given(length=st.integers(0, 30).filter(lambda n: n != 18), data=st.data())
def test_any_other_length_is_refused(length, data):
    """Digit strings of any length other than 18 are refused with the expected shape."""
    number = data.draw(st.text(DIGITS, min_size=length, max_size=length), label="number")
    assert id_number_problem(number) == SHAPE


@pytest.mark.parametrize(
    "number",
    [
        "１１０１０５１９４９１２３１００２X",  # full-width digits: int() reads them, the HMAC differs
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits
        "11010519491231002X\n",
    ],
)
def test_only_ascii_digits_are_accepted(number):
    """Only ASCII digits make an ID number; other scripts' digits or a trailing newline are refused."""
    assert id_number_problem(number) == SHAPE
