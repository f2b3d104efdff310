"""Reading urlencoded forms without a multipart parser: values, lists, and clear refusals."""

from __future__ import annotations

import pytest

from central.web.forms import MAX_FORM_BYTES, parse_form

FORM = "application/x-www-form-urlencoded"


def test_fields_are_decoded_stripped_and_listed() -> None:
    """UTF-8 percent-encoding, '+' for spaces, repeated checkboxes, blank values kept."""
    form = parse_form(FORM + "; charset=UTF-8", b"name=%E5%BC%A0%E4%BC%9F+&p=a&p=b&empty=")
    assert form.get("name") == "张伟"
    assert form.getlist("p") == ["a", "b"]
    assert form.get("empty") == "" and form.get("missing", "x") == "x"
    assert form.getlist("missing") == []


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"{}", "expected application/x-www-form-urlencoded, got application/json"),
        ("", b"a=1", "got none"),
        (FORM, b"a=%FF%FE", "not UTF-8"),
        (FORM, b"a=" + b"x" * MAX_FORM_BYTES, f"at most {MAX_FORM_BYTES} bytes"),
        (FORM, "&".join(f"f{i}=1" for i in range(300)).encode(), "Max number of fields"),
    ],
)
def test_bad_bodies_are_refused_saying_why(content_type: str, body: bytes, message: str) -> None:
    """A JSON body, a missing type, bad UTF-8, too many bytes or fields: ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        parse_form(content_type, body)
