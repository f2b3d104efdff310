"""One valid wire payload per message type, the tables in the tests change one field of these."""

import json
from typing import Any

# Verbatim from ARCHITECTURE.md (split only to fit the line length) ("Message contract v1").
FIX_EXAMPLE = (
    '{"v": 1, "type": "fix", "event_id": "0b6f6c1e-4f8e-4a51-9a63-8d1f2f0e7c11", "device_id": "gw-gt06-01",\n'
    ' "device_time": "2026-11-23T08:05:00Z", "subject_id": "S-350205-0001", '
    '"lat": 24.5158, "lon": 117.9900,\n'
    ' "accuracy_m": 15, "source": "gnss", "speed_kmh": 4.2, "battery_pct": 81}'
)
SIGHTING_EXAMPLE = (
    '{"v": 1, "type": "sighting", "event_id": "5d1c…", "device_id": "edge-haicang-01", '
    '"device_time": "2026-11-23T08:05:03Z",\n'
    ' "camera_id": "hall-entrance", "subject_id": "S-350205-0001", "score": 0.71, "track_id": 4412,\n'
    ' "first_seen": "2026-11-23T08:04:58Z", "last_seen": "2026-11-23T08:05:03Z", "quality": 0.83, '
    '"bbox": [412, 96, 520, 230]}'
)
# The page elides the sighting's event id; this is the same example with a whole UUID.
SIGHTING_EVENT_ID = "5d1c2a57-9b0e-4c3f-8e61-2f4a7d9b1c08"

DELETE = object()

_EVENT_ID = "7a0e3c52-1f6b-4d8e-9c2a-5b7f0e1d3a64"
_TIME = "2026-11-23T08:05:00Z"


def _envelope(message_type: str, device_id: str) -> dict[str, Any]:
    return {"v": 1, "type": message_type, "event_id": _EVENT_ID, "device_id": device_id, "device_time": _TIME}


SAMPLES: dict[str, dict[str, Any]] = {
    "sighting": json.loads(SIGHTING_EXAMPLE.replace("5d1c…", SIGHTING_EVENT_ID)),
    "checkin": {
        **_envelope("checkin", "kiosk-siming-02"),
        "subject_id": "S-350205-0001",
        "methods": ["id_card", "face"],
        "face_score": 0.66,
        "fingerprint_match": None,
        "result": "accepted",
        "reason": None,
    },
    "voice_report": {
        **_envelope("voice_report", "kiosk-siming-02"),
        "subject_id": "S-350205-0001",
        "transcript": "本周在厦门海沧上班，没有离开本市。",
        "audio_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "duration_s": 42.5,
        "model": "vosk-model-small-cn-0.22",
        "key_elements": {"places": ["厦门海沧"]},
    },
    "rollcall_answer": {
        **_envelope("rollcall_answer", "kiosk-siming-02"),
        "rollcall_id": "RC-2026-11-23-01",
        "subject_id": "S-350205-0001",
        "face_score": 0.74,
        "answered_at": "2026-11-23T08:04:41Z",
    },
    "fix": json.loads(FIX_EXAMPLE),
    "device_alarm": {
        **_envelope("device_alarm", "gw-gt06-01"),
        "kind": "tamper",
        "detail": "strap opened",
        "subject_id": "S-350205-0001",
    },
    "status": {
        **_envelope("status", "edge-haicang-01"),
        "online": True,
        "versions": {"edge_agent": "0.1.0", "buffalo_l": "2023-01"},
        "queue_depth": 3,
        "camera_fps": {"hall-entrance": 12.5},
    },
    "rollcall_start": {
        **_envelope("rollcall_start", "kiosk-siming-02"),
        "rollcall_id": "RC-2026-11-23-01",
        "subject_ids": ["S-350205-0001", "S-350205-0002"],
        "deadline": "2026-11-23T08:35:00Z",
    },
    "gallery": {
        **_envelope("gallery", "edge-haicang-01"),
        "version": 7,
        "url": "https://central.example/api/galleries/7",
        "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    },
}

TOPICS: dict[str, str] = {
    "sighting": "corr/v1/dev/edge-haicang-01/sighting",
    "checkin": "corr/v1/dev/kiosk-siming-02/checkin",
    "voice_report": "corr/v1/dev/kiosk-siming-02/report",
    "rollcall_answer": "corr/v1/dev/kiosk-siming-02/rollcall",
    "fix": "corr/v1/dev/gw-gt06-01/fix",
    "device_alarm": "corr/v1/dev/gw-gt06-01/alarm",
    "status": "corr/v1/dev/edge-haicang-01/status",
    "rollcall_start": "corr/v1/cmd/kiosk-siming-02/rollcall",
    "gallery": "corr/v1/cmd/edge-haicang-01/gallery",
}


def sample(message_type: str, **changes: Any) -> dict[str, Any]:
    """A copy of the sample payload of `message_type` with `changes`; a change to DELETE removes the key."""
    payload: dict[str, Any] = json.loads(json.dumps(SAMPLES[message_type]))
    for key, value in changes.items():
        if value is DELETE:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def wire(message_type: str, **changes: Any) -> bytes:
    """`sample` as the bytes a device would publish."""
    return json.dumps(sample(message_type, **changes), ensure_ascii=False).encode("utf-8")
