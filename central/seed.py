"""A small jurisdiction tree with officers, subjects and devices, for the demo and the tests.

Xiamen-like codes: province 35 → city 3502 → counties 350205 (Haicang) and 350206
(Huli) → one township each. ID numbers are synthetic but carry valid check digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from central.context import Central
from central.devices import add_device
from central.nodes import add_node
from central.subjects import _CHECK, _WEIGHTS, register_subject
from central.users import create_user

NODES = [
    ("35", "福建省司法厅", "province", None),
    ("3502", "厦门市司法局", "city", "35"),
    ("350205", "海沧区司法局", "county", "3502"),
    ("350206", "湖里区司法局", "county", "3502"),
    ("350205001", "海沧街道司法所", "township", "350205"),
    ("350206001", "湖里街道司法所", "township", "350206"),
]

# username, role, node, permissions
OFFICERS = [
    ("prov.admin", "admin", "35", ["id_number", "location"]),
    ("city.officer", "officer", "3502", []),
    ("haicang.officer", "officer", "350205", ["id_number"]),
    ("huli.officer", "officer", "350206", []),
    ("haicang.town", "officer", "350205001", []),
    ("huli.viewer", "viewer", "350206", []),
]

# subject id, name, node, category, level
SUBJECTS = [
    ("S-350205-0001", "张伟", "350205001", "probation", "normal"),
    ("S-350205-0002", "王芳", "350205001", "parole", "strict"),
    ("S-350205-0003", "李娜", "350205", "control", "lenient"),
    ("S-350206-0001", "刘洋", "350206001", "probation", "normal"),
    ("S-350206-0002", "陈静", "350206", "outside_execution", "strict"),
]


def id_number_for(serial: int, region: str = "350205", birth: str = "19880512") -> str:
    """A synthetic resident ID number with a correct GB 11643 check character (serial 0-999)."""
    if not 0 <= serial <= 999:
        raise ValueError(f"serial {serial}: the ID number's sequence code has three digits, 0-999")
    body = f"{region}{birth}{serial:03d}"
    return body + _CHECK[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


@dataclass
class Seeded:
    """What was created; device secrets are only known here."""

    password: str
    device_secrets: dict[str, str] = field(default_factory=dict)


def seed(central: Central, password: str, devices: list[tuple[str, str, str]] | None = None) -> Seeded:
    """Create the tree, officers (all with `password`), subjects and the given (id, kind, node) devices."""
    out = Seeded(password=password)
    with central.sessions.begin() as s:
        _seed(s, central, password, devices or [], out)
    return out


def _seed(s: Session, central: Central, password: str, devices: list[tuple[str, str, str]], out: Seeded) -> None:
    for code, name, level, parent in NODES:
        add_node(s, code, name, level, parent)
    for username, role, node, perms in OFFICERS:
        create_user(
            s,
            username=username,
            password=password,
            role=role,
            node_code=node,
            permissions=perms,
            audit_key=central.audit_key,
        )
    for i, (sid, name, node, category, level) in enumerate(SUBJECTS, start=1):
        register_subject(
            s,
            central.cipher,
            central.hmac_key,
            central.audit_key,
            subject_id=sid,
            name=name,
            id_number=id_number_for(i, region=node[:6]),
            node_code=node,
            category=category,
            supervision_level=level,
            term_start=date(2026, 1, 1),
            term_end=date(2027, 6, 30),
        )
    for device_id, kind, node in devices:
        out.device_secrets[device_id] = add_device(
            s, central.audit_key, device_id=device_id, kind=kind, node_code=node, cipher=central.cipher
        ).secret
