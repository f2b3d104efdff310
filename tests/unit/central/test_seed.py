"""The demo seed: synthetic ID numbers with correct check characters."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from central.seed import SUBJECTS, id_number_for
from central.subjects import id_number_problem
from tests.unit.central.strategies import iso7064_check

regions = st.text("0123456789", min_size=6, max_size=6)
births = st.dates(date(1900, 1, 1), date(2030, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))


@given(serial=st.integers(0, 999), region=regions, birth=births)
def test_generated_numbers_are_valid(serial, region, birth):
    """Every number id_number_for makes has the requested parts and passes id_number_problem."""
    number = id_number_for(serial, region=region, birth=birth)
    assert number[:6] == region
    assert number[6:14] == birth
    assert number[14:17] == f"{serial:03d}"
    assert number[17] == iso7064_check(number[:17])
    assert id_number_problem(number) is None


def test_default_number():
    """The defaults give a Haicang number born 1988-05-12."""
    assert iso7064_check("35020519880512001") == "8"
    assert id_number_for(1) == "350205198805120018"


def test_seeded_subjects_get_distinct_valid_numbers():
    """The numbers the seed registers (serial i, region from the node) are valid and all different."""
    numbers = [id_number_for(i, region=node[:6]) for i, (_, _, node, _, _) in enumerate(SUBJECTS, start=1)]
    assert all(id_number_problem(n) is None for n in numbers)
    assert len(set(numbers)) == len(numbers)
