"""Face pipeline on onnxruntime: detection, alignment, embedding, quality gate, 1:1 and 1:N (the vision issue).

Importing `vision` is cheap: the errors and the template format load at once (central uses only
those, without numpy or OpenCV); everything else loads on first use.

    from vision import FacePipeline, VisionConfig, load_image
    pipe = FacePipeline(VisionConfig())
    template = pipe.enrol(load_image("id_photo.jpg"))
    result = pipe.verify(load_image("camera.jpg"), template)   # .score, .same_person
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vision.errors import ConfigError, ImageError, ModelFileError, TemplateError, VisionError
from vision.template import Template, TemplateCipher, check_comparable

if TYPE_CHECKING:
    from vision.config import VisionConfig, load_config
    from vision.face import Face
    from vision.gallery import Gallery, Match
    from vision.image import decode_image, load_image
    from vision.pipeline import FacePipeline, Probe, QualityRefused
    from vision.quality import QualityConfig, QualityGate, QualityReport, Refusal
    from vision.verify import Verification, similarity, verify

_LAZY = {
    "VisionConfig": "vision.config",
    "load_config": "vision.config",
    "Face": "vision.face",
    "Gallery": "vision.gallery",
    "Match": "vision.gallery",
    "decode_image": "vision.image",
    "load_image": "vision.image",
    "FacePipeline": "vision.pipeline",
    "Probe": "vision.pipeline",
    "QualityRefused": "vision.pipeline",
    "QualityConfig": "vision.quality",
    "QualityGate": "vision.quality",
    "QualityReport": "vision.quality",
    "Refusal": "vision.quality",
    "Verification": "vision.verify",
    "similarity": "vision.verify",
    "verify": "vision.verify",
}

__all__ = [
    "ConfigError",
    "Face",
    "FacePipeline",
    "Gallery",
    "ImageError",
    "Match",
    "ModelFileError",
    "Probe",
    "QualityConfig",
    "QualityGate",
    "QualityRefused",
    "QualityReport",
    "Refusal",
    "Template",
    "TemplateCipher",
    "TemplateError",
    "Verification",
    "VisionConfig",
    "VisionError",
    "check_comparable",
    "decode_image",
    "load_config",
    "load_image",
    "similarity",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
