"""The face pipeline the kiosk and the edge agent use: detect → quality gate → align → embed → template → verify."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision.align import align
from vision.config import VisionConfig
from vision.detector import Detector
from vision.embedder import Embedder
from vision.errors import VisionError
from vision.face import Face
from vision.image import check_image
from vision.quality import QualityGate, QualityReport
from vision.template import Template
from vision.thresholds import threshold_for
from vision.verify import Verification, verify


class QualityRefused(VisionError):
    """The picture failed the quality gate; `report.reasons` says why, in words a kiosk can show."""

    def __init__(self, report: QualityReport) -> None:
        super().__init__(report.message or "picture refused by the quality gate")
        self.report = report


@dataclass(frozen=True)
class Probe:
    """A face that passed the gate, with its template."""

    face: Face
    template: Template
    report: QualityReport


class FacePipeline:
    """Detector, gate and embedder built from one VisionConfig; models load (and warm up) once, at construction."""

    def __init__(self, config: VisionConfig | None = None) -> None:
        self.config = config or VisionConfig()
        self.detector: Detector = self.config.detector.build(self.config.runtime)
        self.embedder: Embedder = self.config.embedder.build(self.config.runtime)
        self.gate = QualityGate(self.config.quality)
        self.threshold = (
            self.config.threshold
            if self.config.threshold is not None
            else threshold_for(self.embedder.backend, self.embedder.model_sha256).value
        )

    def _image(self, image: np.ndarray) -> np.ndarray:
        return check_image(image, max_pixels=self.config.max_image_pixels)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face in the image, most confident first."""
        return self.detector.detect(self._image(image))

    def assess(self, image: np.ndarray, *, expect_one: bool = True) -> QualityReport:
        """Detect and apply the quality gate, for one person in front of the camera (or the best face)."""
        image = self._image(image)
        return self.gate.check(image, self.detector.detect(image), expect_one=expect_one)

    def template(self, image: np.ndarray, face: Face, aligned: np.ndarray | None = None) -> Template:
        """The template of a face found in the image (no gate: callers who gate use `probe`)."""
        crop = align(self._image(image), face) if aligned is None else aligned
        vector = self.embedder.embed(crop)
        return Template.from_values(self.embedder.backend, self.embedder.model_sha256, vector)

    def probe(self, image: np.ndarray, *, expect_one: bool = True) -> Probe:
        """Gate the picture and make the template of its face; QualityRefused when the gate says no."""
        report = self.assess(image, expect_one=expect_one)
        if not report.accepted or report.face is None:
            raise QualityRefused(report)
        return Probe(face=report.face, template=self.template(image, report.face, report.aligned), report=report)

    def enrol(self, image: np.ndarray) -> Template:
        """The template to store for a subject (the gate applies, one face expected)."""
        return self.probe(image).template

    def verify(self, image: np.ndarray, reference: Template) -> Verification:
        """Is the one person in the picture the person of `reference`? (gate applies)"""
        return verify(self.probe(image).template, reference, self.threshold)

    def faces_with_templates(self, image: np.ndarray) -> list[tuple[Face, QualityReport, Template | None]]:
        """Every face with its own quality verdict and, when accepted, its template (edge cameras)."""
        image = self._image(image)
        out: list[tuple[Face, QualityReport, Template | None]] = []
        for face in self.detector.detect(image):
            report = self.gate.check_face(image, face)
            template = self.template(image, face, report.aligned) if report.accepted else None
            out.append((face, report, template))
        return out
