"""GB 11643-1999 ID numbers: format, birth date part, MOD 11-2 check character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peripherals.idcard.id_number import check_character, id_number_problem
from tests.unit.peripherals.idcard.samples import STANDARD_EXAMPLE
from tests.unit.peripherals.idcard.strategies import card_dates, id_numbers, relaxed


def test_the_standards_example_is_valid():
    """11010519491231002X, the example printed in GB 11643-1999, passes."""
    assert id_number_problem(STANDARD_EXAMPLE) is None


def test_check_character_x():
    """A remainder of 2 gives the check character X."""
    assert check_character(STANDARD_EXAMPLE[:17]) == "X"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("110105194912310021", "ID number: check character is 1, the first 17 digits give X"),
        ("11010519491231002x", "ID number '11010519491231002x': expected 17 digits and a check character"),
        ("1101051949123100", "ID number '1101051949123100': expected 17 digits and a check character"),
        ("110105194902300021", "ID number: birth date part 19490230 is not a date, expected YYYYMMDD"),
        ("", "ID number '': expected 17 digits"),
        (
            "１１０１０５１９４９１２３１００２Ｘ",
            "ID number '１１０１０５１９４９１２３１００２Ｘ': expected 17 digits",
        ),
    ],
)
def test_problems(number, expected):
    """Each kind of invalid number is described with the value and what was expected."""
    problem = id_number_problem(number)
    assert problem is not None
    assert problem.startswith(expected)


@relaxed
@given(card_dates.flatmap(id_numbers))
def test_generated_numbers_are_valid(number):
    """Numbers built with check_character pass the check."""
    assert id_number_problem(number) is None


@relaxed
@given(card_dates.flatmap(id_numbers), st.integers(0, 16), st.integers(1, 9))
def test_one_changed_digit_is_caught(number, position, delta):
    """Changing any one of the first 17 digits is caught, by the check character or the birth date part."""
    digits = list(number)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    problem = id_number_problem(changed)
    assert problem is not None
