"""Vision configuration (vision/config.py): backends chosen by `type`, strict keys, clear errors, overrides."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from vision.backends.buffalo import BuffaloDetectorConfig, BuffaloEmbedderConfig
from vision.backends.fr_detect import FrDetectConfig
from vision.backends.fr_feature import FrFeatureConfig
from vision.backends.sface import SFaceConfig
from vision.backends.yunet import YuNetConfig
from vision.config import VisionConfig, load_config, parse_config
from vision.errors import ConfigError
from vision.template import Template

KEY = base64.b64encode(bytes(range(32))).decode()


def test_defaults_are_yunet_and_sface() -> None:
    """With nothing configured the kiosk defaults apply."""
    cfg = VisionConfig()
    assert isinstance(cfg.detector, YuNetConfig) and isinstance(cfg.embedder, SFaceConfig)
    assert cfg.threshold is None and cfg.template_key is None


@pytest.mark.parametrize(
    ("section", "value", "cls"),
    [
        ("detector", "yunet", YuNetConfig),
        ("detector", "fr_detect", FrDetectConfig),
        ("detector", "buffalo", BuffaloDetectorConfig),
        ("embedder", "sface", SFaceConfig),
        ("embedder", "fr_feature", FrFeatureConfig),
        ("embedder", "buffalo", BuffaloEmbedderConfig),
    ],
)
def test_type_picks_the_backend(section: str, value: str, cls: type) -> None:
    """The `type` key selects the backend's own settings class."""
    assert isinstance(getattr(parse_config({section: {"type": value}}), section), cls)


def test_unknown_type_is_named() -> None:
    """An unknown backend names the key, the value and the choices."""
    with pytest.raises(ConfigError) as err:
        parse_config({"detector": {"type": "retinaface"}})
    text = str(err.value)
    assert "key 'vision.detector'" in text and "'retinaface'" in text and "'yunet', 'fr_detect', 'buffalo'" in text


def test_unknown_key_is_named() -> None:
    """A typo inside a backend's settings is an error naming the key and value."""
    with pytest.raises(ConfigError, match=r"key 'vision.detector.yunet.score_treshold': Extra inputs .* \(got 0.5\)"):
        parse_config({"detector": {"type": "yunet", "score_treshold": 0.5}})


def test_key_of_another_backend_is_refused() -> None:
    """Settings of one backend are not accepted under another's type."""
    with pytest.raises(ConfigError, match="landmark_model"):
        parse_config({"detector": {"type": "yunet", "landmark_model": "fr_landmark"}})


def test_out_of_range_values_are_named() -> None:
    """Bounds are checked with the key and the value in the message."""
    with pytest.raises(ConfigError, match=r"key 'vision.runtime.threads'.*\(got 0\)"):
        parse_config({"runtime": {"threads": 0}})
    with pytest.raises(ConfigError, match=r"key 'vision.threshold'.*\(got 1.5\)"):
        parse_config({"threshold": 1.5})


@pytest.mark.parametrize(
    ("key", "message"),
    [("not base64!", "must be base64 of 32 random bytes"), (base64.b64encode(b"short").decode(), "decodes to 5")],
)
def test_template_key_is_checked_and_hidden(key: str, message: str) -> None:
    """A bad template key is refused without echoing it."""
    with pytest.raises(ConfigError) as err:
        parse_config({"template_key": key})
    assert message in str(err.value) and "value hidden" in str(err.value) and key not in str(err.value)


def test_template_cipher_needs_a_key() -> None:
    """Sealing without a key is refused with how to make one; with a key it round-trips."""
    with pytest.raises(ConfigError, match="python -m vision keygen"):
        VisionConfig().template_cipher()
    cipher = parse_config({"template_key": KEY}).template_cipher()
    t = Template.from_values("sface", "ab" * 32, [1.0, 0.0])
    assert cipher.open(cipher.seal(t, "c"), "c") == t
    assert KEY not in repr(parse_config({"template_key": KEY}))


def test_buffalo_sha_pin_must_be_hex() -> None:
    """A pinned sha256 must look like one."""
    with pytest.raises(ConfigError, match=r"vision\.embedder\.buffalo\.sha256"):
        parse_config({"embedder": {"type": "buffalo", "sha256": "abc"}})


def test_load_config_file_and_environment(tmp_path: Path) -> None:
    """A [vision] table is read, and CORR_VISION__* variables override it."""
    path = tmp_path / "kiosk.toml"
    path.write_text('[vision]\nthreshold = 0.4\n[vision.detector]\ntype = "fr_detect"\n')
    cfg = load_config(path, environ={"CORR_VISION__RUNTIME__THREADS": "1", "CORR_OTHER": "x"})
    assert isinstance(cfg.detector, FrDetectConfig) and cfg.threshold == 0.4 and cfg.runtime.threads == 1
    cfg = load_config(path, environ={"CORR_VISION__DETECTOR__TYPE": "yunet"})
    assert isinstance(cfg.detector, YuNetConfig)


def test_load_config_errors_name_the_source(tmp_path: Path) -> None:
    """Missing file, bad TOML and a bad environment value each say where the problem is."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml", environ={})
    (tmp_path / "bad.toml").write_text("threshold = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml", environ={})
    with pytest.raises(ConfigError, match=r"environment CORR_VISION__RUNTIME__THREADS: key 'vision.runtime.threads'"):
        load_config(None, environ={"CORR_VISION__RUNTIME__THREADS": "many"})
