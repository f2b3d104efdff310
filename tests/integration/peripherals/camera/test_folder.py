"""The image-folder twin on real PNG and JPEG files the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from peripherals.camera.config import ImageFolderCamera
from peripherals.camera.errors import CameraError
from peripherals.camera.folder import ImageFolderSource, list_images
from tests.integration.peripherals.camera.conftest import HEIGHT, WIDTH, frame_number

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.mark.parametrize("fixture", ["png_folder", "jpeg_folder"])
def test_images_come_in_name_order(fixture: str, request: pytest.FixtureRequest) -> None:
    """Every image is one frame, in file-name order, as 160x120 BGR."""
    folder: Path = request.getfixturevalue(fixture)
    source = ImageFolderSource(ImageFolderCamera(path=folder))
    assert source.open() is None
    numbers = []
    while (image := source.read()) is not None:
        assert image.shape == (HEIGHT, WIDTH, 3)
        numbers.append(frame_number(image))
    assert numbers == list(range(8))


def test_other_files_are_ignored(png_folder: Path) -> None:
    """Only PNG, JPEG and BMP files count, whatever the case of the suffix."""
    (png_folder / "notes.txt").write_text("not an image")
    (png_folder / "sub").mkdir()
    (png_folder / "frame-999.PNG").write_bytes((png_folder / "frame-000.png").read_bytes())
    assert [p.name for p in list_images(png_folder)][-1] == "frame-999.PNG"
    assert len(list_images(png_folder)) == 9


def test_undecodable_image_is_named(png_folder: Path) -> None:
    """A file with an image suffix that does not decode is reported by name; the next one still reads."""
    (png_folder / "frame-003.png").write_bytes(b"not a png")
    source = ImageFolderSource(ImageFolderCamera(path=png_folder))
    source.open()
    for _ in range(3):
        assert source.read() is not None
    with pytest.raises(CameraError) as info:
        source.read()
    assert str(info.value) == f"image folder {png_folder}: image frame-003.png cannot be decoded"
    image = source.read()
    assert image is not None
    assert frame_number(image) == 4


@pytest.mark.parametrize(
    ("make", "ending"),
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: (p / "file.txt", (p / "file.txt").write_text("x"))[0], "is a file, not a folder"),
        (lambda p: (p / "empty", (p / "empty").mkdir())[0], "holds no images (expected *.bmp, *.jpeg, *.jpg, *.png)"),
    ],
)
def test_folder_problems_are_named(tmp_path: Path, make: object, ending: str) -> None:
    """A missing folder, a file in its place and an empty folder each say so."""
    assert callable(make)
    folder = make(tmp_path)
    with pytest.raises(CameraError) as info:
        ImageFolderSource(ImageFolderCamera(path=folder)).open()
    assert str(info.value) == f"image folder {folder}: {ending}"
