"""The one exception family the face pipeline raises; every message says what was wrong and what was expected."""

from __future__ import annotations


class VisionError(Exception):
    """Base of every refusal: bad image, missing or corrupt model, bad template, bad configuration."""


class ModelFileError(VisionError):
    """A model file is missing, does not match the manifest, or cannot be loaded."""


class ImageError(VisionError):
    """An image is unreadable, truncated, empty, too large or in a colour format the pipeline does not take."""


class TemplateError(VisionError):
    """A template is malformed, does not decrypt with the key, or cannot be compared with another."""


class ConfigError(VisionError):
    """The vision configuration holds a missing key or a bad value; the message names both."""
