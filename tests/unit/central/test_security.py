"""Passwords, tokens, field encryption, lookup HMACs and ID-number masking."""

import hashlib
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.security import (
    DecryptionError,
    FieldCipher,
    hash_password,
    lookup_hmac,
    mask_id_number,
    new_token,
    normalise_id_number,
    token_digest,
    verify_password,
)
from tests.unit.central.strategies import id_numbers, keys

KEY = bytes(range(32))
CIPHER = FieldCipher(KEY)
contexts = st.text(min_size=1, max_size=30)
OVERHEAD = 1 + 12 + 16  # format byte, nonce, GCM tag


@given(plaintext=st.binary(max_size=200), context=contexts, key=keys)
def test_encrypt_decrypt_round_trip(plaintext, context, key):
    """What encrypt seals, decrypt with the same key and context opens, at a fixed overhead."""
    cipher = FieldCipher(key)
    blob = cipher.encrypt(plaintext, context)
    assert len(blob) == len(plaintext) + OVERHEAD
    assert cipher.decrypt(blob, context) == plaintext


@given(text=st.text(max_size=50))
def test_text_round_trip(text):
    """Strings (names in any script) come back unchanged."""
    assert CIPHER.decrypt_text(CIPHER.encrypt_text(text, "subject.name"), "subject.name") == text


def test_plaintext_is_not_in_the_ciphertext():
    """The stored bytes do not contain the value in clear."""
    blob = CIPHER.encrypt_text("350205198805120011", "subject.id_number")
    assert b"350205198805120011" not in blob


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_flipped_byte_is_refused(plaintext, data):
    """Changing any bit of a ciphertext (format byte, nonce, body or tag) fails naming the context."""
    blob = bytearray(CIPHER.encrypt(plaintext, "template.vector"))
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    blob[index] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(DecryptionError, match=r"^template\.vector: "):
        CIPHER.decrypt(bytes(blob), "template.vector")


@given(length=st.integers(0, OVERHEAD - 1))
def test_truncated_blob_is_refused(length):
    """A blob too short to hold a nonce and a tag is refused as not a ciphertext of this format."""
    blob = CIPHER.encrypt(b"x", "subject.name")[:length]
    with pytest.raises(DecryptionError, match=r"^subject\.name: not a ciphertext of this format$"):
        CIPHER.decrypt(blob, "subject.name")


@given(other=keys.filter(lambda k: k != KEY))
def test_wrong_key_is_refused(other):
    """A value sealed with one data key does not open with another, and the error says so."""
    blob = CIPHER.encrypt(b"secret", "subject.name")
    with pytest.raises(
        DecryptionError, match=r"^subject\.name: ciphertext does not open with the configured data key$"
    ):
        FieldCipher(other).decrypt(blob, "subject.name")


def test_other_context_is_refused():
    """A ciphertext moved to another column does not open there; the error names that column."""
    blob = CIPHER.encrypt_text("张伟", "subject.name")
    with pytest.raises(DecryptionError, match=r"^subject\.id_number: ciphertext does not open"):
        CIPHER.decrypt_text(blob, "subject.id_number")


def test_same_text_encrypts_differently():
    """Two encryptions of one value differ (fresh random nonce), so equal values cannot be spotted."""
    first = CIPHER.encrypt(b"same", "subject.name")
    second = CIPHER.encrypt(b"same", "subject.name")
    assert first != second
    assert first[1:13] != second[1:13]


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_key_must_be_32_bytes(size):
    """Only AES-256 keys are accepted; the error gives the length that was passed."""
    with pytest.raises(ValueError, match=f"^data key must be 32 bytes, got {size}$"):
        FieldCipher(bytes(size))


@pytest.fixture(scope="module")
def stored_hash() -> str:
    """One argon2 hash, made once: each costs tens of milliseconds."""
    return hash_password("correct horse")


def test_password_hash_is_argon2id(stored_hash):
    """The stored form is an argon2id PHC string and does not contain the password."""
    assert stored_hash.startswith("$argon2id$")
    assert "correct horse" not in stored_hash


def test_password_verifies(stored_hash):
    """The right password matches; a wrong or differently cased one does not."""
    assert verify_password(stored_hash, "correct horse")
    assert not verify_password(stored_hash, "Correct horse")
    assert not verify_password(stored_hash, "")


def test_password_hashes_are_salted(stored_hash):
    """Hashing the same password twice gives two different strings."""
    assert hash_password("correct horse") != stored_hash


@pytest.mark.parametrize("garbage", ["", "plaintext", "$argon2id$v=19$m=65536", "$7$101$abc$def"])
def test_garbage_hash_is_a_mismatch(garbage):
    """A corrupt stored hash is treated as a wrong password, not an exception."""
    assert verify_password(garbage, "correct horse") is False


def test_tokens_are_long_and_fresh():
    """Tokens carry 256 bits (43 url-safe characters) and never repeat."""
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)


def test_token_digest_is_sha256_hex():
    """The database stores the SHA-256 of a token (known answer for 'abc'), not the token."""
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()


def test_lookup_hmac_known_answer():
    """lookup_hmac is HMAC-SHA256: RFC 4231 test case 2."""
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert lookup_hmac(b"Jefe", "what do ya want for nothing?") == expected


@given(key=keys, value=id_numbers)
def test_lookup_hmac_is_stable(key, value):
    """The same key and value always give the same lookup digest (64 hex characters)."""
    digest = lookup_hmac(key, value)
    assert digest == lookup_hmac(bytes(key), str(value))
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@given(key=keys, other=keys, value=id_numbers)
def test_lookup_hmac_is_keyed(key, other, value):
    """Another key gives another digest, so the digests are useless without the key."""
    if key != other:
        assert lookup_hmac(key, value) != lookup_hmac(other, value)


@given(value=id_numbers, other=id_numbers)
def test_lookup_hmac_tells_values_apart(value, other):
    """Different ID numbers give different digests under one key."""
    if value != other:
        assert lookup_hmac(KEY, value) != lookup_hmac(KEY, other)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("11010519491231002x", "11010519491231002X"),
        (" 110105 19491231 002X ", "11010519491231002X"),
        ("110105\t19491231\n002x", "11010519491231002X"),
        ("11010519491231002X", "11010519491231002X"),
    ],
)
def test_normalise_id_number(raw, normal):
    """Spaces go and the check character x is upper-cased, so typed and read numbers compare equal."""
    assert normalise_id_number(raw) == normal


@given(number=id_numbers, cuts=st.lists(st.integers(0, 18), max_size=4), blank=st.sampled_from([" ", "\t", "\u3000"]))
def test_normalise_undoes_spacing_and_case(number, cuts, blank):
    """Whitespace anywhere (even an ideographic space) and a lower-case x normalise back to the number."""
    spaced = number.lower()
    for cut in sorted(set(cuts), reverse=True):
        spaced = spaced[:cut] + blank + spaced[cut:]
    assert normalise_id_number(spaced) == number
    assert normalise_id_number(normalise_id_number(spaced)) == number


def test_mask_example():
    """An 18-character number keeps its region prefix and last four: 350205********123X."""
    assert mask_id_number("35020519880512123X") == "350205********123X"


@pytest.mark.parametrize("short", ["", "1", "12345", "1234567890"])
def test_mask_short_values_hides_everything(short):
    """Ten characters or fewer are masked completely (6 + 4 would show it all)."""
    assert mask_id_number(short) == "*" * len(short)


@given(value=st.text(st.characters(exclude_characters="*"), min_size=11, max_size=40))
def test_mask_keeps_prefix_and_suffix_only(value):
    """The mask has the input's length, shows the first 6 and last 4, and stars everything between."""
    masked = mask_id_number(value)
    assert len(masked) == len(value)
    assert masked[:6] == value[:6]
    assert masked[-4:] == value[-4:]
    assert set(masked[6:-4]) == {"*"}


@given(value=st.text(max_size=40))
def test_mask_never_reveals_the_middle(value):
    """No character between the first 6 and the last 4 survives, whatever the length."""
    masked = mask_id_number(value)
    assert len(masked) == len(value)
    hidden = range(6, len(value) - 4) if len(value) > 10 else range(len(value))
    assert all(masked[i] == "*" for i in hidden)


def test_processes_hash_with_rfc_9106_low_memory_parameters_unless_the_suite_says_otherwise() -> None:
    """The suite hashes cheaply (tests/conftest.py); a fresh process, as every server is, uses 64 MiB, t=3, p=4."""
    code = "from central.security import hash_password; print(hash_password('x'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), out
