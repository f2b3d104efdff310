"""Mosquitto password hashes, ACL entries and the atomic rewrite of both broker files."""

import base64
import hashlib
import os
import re
import signal
import stat
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.broker_auth import (
    BrokerAccount,
    acl_lines,
    mosquitto_password_hash,
    reload_broker,
    render_acl_file,
    render_password_file,
    write_broker_files,
)
from tests.unit.central.strategies import device_ids

HASH_FORMAT = re.compile(r"\$7\$101\$(?P<salt>[A-Za-z0-9+/]{16})\$(?P<hash>[A-Za-z0-9+/]{86}==)")
# Written by `mosquitto_passwd -c -b pw dev1 secret` (Mosquitto 2.0.11, Debian 12).
MOSQUITTO_2_0_11_LINE = (
    "dev1:$7$101$GJDnOfVE8Tk73454$"
    "T/yfrRthML8XJJ6GAR3VhfHtUutCHq9gR5Bo1xtNzkPcVhdi0huZ324MXaFr"
    "WkskCnhO0iZ3OxVf6XB/PCp+Lw=="
)
kinds = st.sampled_from(["sighting", "checkin", "report", "rollcall", "fix", "alarm", "status", "gallery"])


def _account(name: str, role: str = "device") -> BrokerAccount:
    return BrokerAccount(name, f"$7$101$hash-of-{name}", role)  # type: ignore[arg-type]


def test_hash_has_mosquitto_2_format():
    """The hash reads $7$101$<base64 12-byte salt>$<base64 64-byte PBKDF2-SHA512>."""
    match = HASH_FORMAT.fullmatch(mosquitto_password_hash("secret"))
    assert match is not None
    assert len(base64.b64decode(match["salt"])) == 12
    assert len(base64.b64decode(match["hash"])) == 64


@given(password=st.text(max_size=40), salt=st.binary(min_size=12, max_size=12))
def test_hash_with_known_salt_is_pbkdf2_sha512(password, salt):
    """With a given salt the hash is PBKDF2-HMAC-SHA512 over the UTF-8 password, 101 rounds, 64 bytes."""
    expected = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, 101, 64)
    _, seven, rounds, salt_b64, hash_b64 = mosquitto_password_hash(password, salt=salt).split("$")
    assert (seven, rounds) == ("7", "101")
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(hash_b64) == expected


def test_hash_matches_mosquitto_passwd():
    """Given the salt of a line written by the real mosquitto_passwd, the same line comes out."""
    user, stored = MOSQUITTO_2_0_11_LINE.split(":", 1)
    salt = base64.b64decode(stored.split("$")[3])
    assert f"{user}:{mosquitto_password_hash('secret', salt=salt)}" == MOSQUITTO_2_0_11_LINE
    assert mosquitto_password_hash("Secret", salt=salt) != stored


def test_hash_salt_is_random():
    """Two hashes of one password differ in salt, and so in hash."""
    first, second = (mosquitto_password_hash("secret").split("$") for _ in range(2))
    assert first[3] != second[3]
    assert first[4] != second[4]


def test_hash_records_its_iterations():
    """Another iteration count is written into the hash, so the broker uses the same count."""
    assert mosquitto_password_hash("secret", salt=bytes(12), iterations=1000).startswith("$7$1000$AAAAAAAAAAAAAAAA$")


def test_device_acl_lines():
    """A device may write only its own uplink and read only its own commands."""
    assert acl_lines(_account("kiosk-01")) == [
        "user kiosk-01",
        "topic write corr/v1/dev/kiosk-01/#",
        "topic read corr/v1/cmd/kiosk-01/#",
    ]


def test_central_acl_lines():
    """Central reads every device's uplink (also through the shared subscription) and writes commands."""
    lines = acl_lines(_account("central", "central"))
    assert lines[0] == "user central"
    assert set(lines[1:]) == {
        "topic read corr/v1/dev/#",
        "topic read $share/central/corr/v1/dev/#",
        "topic write corr/v1/cmd/#",
    }


def _filter_matches(pattern: str, topic: str) -> bool:
    """MQTT topic-filter matching with + and # (what Mosquitto does with an ACL topic)."""
    levels, wanted = pattern.split("/"), topic.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= len(wanted) or (level != "+" and level != wanted[i]):
            return False
    return len(levels) == len(wanted)


def _granted(lines: list[str], access: str, topic: str) -> bool:
    """True when one of the account's `topic` lines gives `access` (read or write) on the topic."""
    for line in lines[1:]:
        _, given_access, pattern = line.split(" ", 2)
        if given_access in (access, "readwrite") and _filter_matches(pattern, topic):
            return True
    return False


@given(me=device_ids, other=device_ids, kind=kinds)
def test_device_reaches_only_its_own_topics(me, other, kind):
    """Evaluated as Mosquitto would: write on dev/<id>/…, read on cmd/<id>/…, nothing of another device."""
    lines = acl_lines(_account(me))
    assert _granted(lines, "write", f"corr/v1/dev/{other}/{kind}") is (me == other)
    assert _granted(lines, "read", f"corr/v1/cmd/{other}/{kind}") is (me == other)
    assert not _granted(lines, "read", f"corr/v1/dev/{other}/{kind}")
    assert not _granted(lines, "write", f"corr/v1/cmd/{other}/{kind}")
    assert not _granted(lines, "write", f"corr/v1/dev/{other}x/{kind}")


@given(device=device_ids, kind=kinds)
def test_central_reads_uplinks_and_writes_commands(device, kind):
    """Central may read every device's events and write every device's commands, not the reverse."""
    lines = acl_lines(_account("central", "central"))
    assert _granted(lines, "read", f"corr/v1/dev/{device}/{kind}")
    assert _granted(lines, "write", f"corr/v1/cmd/{device}/{kind}")
    assert not _granted(lines, "write", f"corr/v1/dev/{device}/{kind}")
    assert not _granted(lines, "read", f"corr/v1/cmd/{device}/{kind}")


accounts = st.lists(device_ids, unique=True, max_size=8).map(lambda names: [_account(n) for n in names])


@given(accs=accounts, data=st.data())
def test_password_file_is_sorted_and_order_free(accs, data):
    """One user:hash line per account, sorted by name, whatever order the accounts come in."""
    text = render_password_file(accs)
    assert text == render_password_file(data.draw(st.permutations(accs), label="shuffled"))
    by_name = sorted(accs, key=lambda a: a.username)
    assert text.splitlines() == [f"{a.username}:{a.password_hash}" for a in by_name]


@given(accs=accounts, data=st.data())
def test_acl_file_is_sorted_and_order_free(accs, data):
    """The ACL has a header and one block per account in name order, whatever the input order."""
    text = render_acl_file(accs)
    assert text == render_acl_file(data.draw(st.permutations(accs), label="shuffled"))
    assert text.startswith("# written by corr-central")
    users = [line.removeprefix("user ") for line in text.splitlines() if line.startswith("user ")]
    assert users == sorted(a.username for a in accs)
    for account in accs:
        assert "\n".join(acl_lines(account)) in text


def test_acl_file_example():
    """The whole ACL for one device and central, byte for byte."""
    text = render_acl_file([_account("kiosk-01"), _account("central", "central")])
    assert text == (
        "# written by corr-central; edit with `corr-central devices ...`\n\n"
        "user central\ntopic read corr/v1/dev/#\ntopic read $share/central/corr/v1/dev/#\n"
        "topic write corr/v1/cmd/#\n\n"
        "user kiosk-01\ntopic write corr/v1/dev/kiosk-01/#\ntopic read corr/v1/cmd/kiosk-01/#\n"
    )


def test_write_broker_files(tmp_path):
    """Both files get the rendered text, mode 0640, in a created folder, with no temporary files left."""
    folder = tmp_path / "mosquitto"
    accs = [_account("kiosk-01"), _account("edge-01")]
    write_broker_files(accs, folder / "passwd", folder / "acl")
    assert (folder / "passwd").read_text() == render_password_file(accs)
    assert (folder / "acl").read_text() == render_acl_file(accs)
    assert sorted(p.name for p in folder.iterdir()) == ["acl", "passwd"]
    for name in ("passwd", "acl"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o640


def test_rewrite_replaces_contents_and_mode(tmp_path):
    """An existing world-readable file is replaced (new inode), its mode becomes 0640."""
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    passwd.write_text("old:line\n")
    passwd.chmod(0o644)
    old_inode = passwd.stat().st_ino
    write_broker_files([_account("kiosk-02")], passwd, acl)
    assert passwd.read_text() == "kiosk-02:$7$101$hash-of-kiosk-02\n"
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o640
    assert passwd.stat().st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acl", "passwd"]


def test_failed_rewrite_keeps_old_file(tmp_path, monkeypatch):
    """If the final rename fails, the old file is untouched and the temporary file is removed."""
    passwd = tmp_path / "passwd"
    passwd.write_text("old:line\n")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk on fire"):
        write_broker_files([_account("kiosk-01")], passwd, tmp_path / "acl")
    assert passwd.read_text() == "old:line\n"
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]


def test_reload_without_pid_file(tmp_path):
    """No pid file configured, or none written yet: nothing to reload."""
    assert reload_broker(None) is False
    assert reload_broker(tmp_path / "mosquitto.pid") is False


@pytest.mark.parametrize("content", ["", "abc", "12.5"])
def test_reload_with_garbage_pid_file(tmp_path, content):
    """A pid file that does not hold a number is reported as no broker running."""
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(content)
    assert reload_broker(pid_file) is False


def test_reload_with_stale_pid(tmp_path):
    """A pid file left by a broker that has exited is reported as no broker running."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{child.pid}\n")
    assert reload_broker(pid_file) is False


def test_reload_sends_sighup(tmp_path, monkeypatch):
    """With a live pid the broker gets SIGHUP (the signal that makes Mosquitto re-read both files)."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text("4242\n")
    assert reload_broker(pid_file) is True
    assert sent == [(4242, signal.SIGHUP)]


@pytest.mark.parametrize("content", ["0", "-1", "-4242"])
def test_reload_refuses_non_positive_pid(tmp_path, monkeypatch, content):
    """A pid file holding 0 or a negative number signals nobody (os.kill would hit a whole group)."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(content)
    assert reload_broker(pid_file) is False
    assert sent == []
