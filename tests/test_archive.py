import hashlib
import http.server
import io
import tarfile
import threading
from contextlib import contextmanager

import pytest

from stages.errors import PipelineError
from stages.sources import archive

PAYLOAD = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(40_000))
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves the server's `payload` at /file.bin, honouring `Range: bytes=N-` if told to.

    `server.cuts` lists, for the next requests in turn, how many body bytes to send before
    closing the connection; `server.ranges` records each request's Range header.
    """

    def do_GET(self):
        server = self.server
        if self.path == "/busy":
            server.ranges.append(None)
            self.send_error(503)
            return
        if self.path != "/file.bin":
            self.send_error(404)
            return
        requested = self.headers.get("Range")
        server.ranges.append(requested)
        start = int(requested.removeprefix("bytes=").rstrip("-")) if requested and server.honour_range else 0
        if start >= len(server.payload):
            self.send_error(416)
            return
        body = server.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: server.cuts.pop(0)] if server.cuts else body)

    def log_message(self, *args):
        pass


@contextmanager
def serve(payload=PAYLOAD, honour_range=True, cuts=()):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.payload, server.honour_range, server.cuts, server.ranges = payload, honour_range, list(cuts), []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/file.bin"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch):
    monkeypatch.setattr(archive, "RETRY_DELAY_S", 0.0)


def test_fetch_downloads_verifies_and_reuses_the_file(tmp_path):
    destination = tmp_path / "cache" / "file.bin"
    with serve() as (server, url):
        assert archive.fetch(url, destination, DIGEST) == destination
        assert archive.fetch(url, destination, DIGEST.upper()) == destination
    assert destination.read_bytes() == PAYLOAD
    assert server.ranges == [None]
    assert not (tmp_path / "cache" / "file.bin.partial").exists()


def test_checksum_mismatch_deletes_the_download(tmp_path):
    destination = tmp_path / "file.bin"
    wrong = "0" * 64
    with serve() as (_, url), pytest.raises(PipelineError) as error:
        archive.fetch(url, destination, wrong)
    assert url in str(error.value) and wrong in str(error.value) and DIGEST in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_connection_cut_halfway_resumes_with_a_range_request(tmp_path):
    half = len(PAYLOAD) // 2
    with serve(cuts=[half]) as (server, url):
        destination = archive.fetch(url, tmp_path / "file.bin", DIGEST)
    assert destination.read_bytes() == PAYLOAD
    assert server.ranges == [None, f"bytes={half}-"]


def test_partial_file_of_an_earlier_run_is_resumed(tmp_path):
    (tmp_path / "file.bin.partial").write_bytes(PAYLOAD[:1000])
    with serve() as (server, url):
        destination = archive.fetch(url, tmp_path / "file.bin", DIGEST)
    assert destination.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=1000-"]


def test_server_ignoring_range_starts_over(tmp_path):
    (tmp_path / "file.bin.partial").write_bytes(b"x" * 1000)
    with serve(honour_range=False) as (server, url):
        destination = archive.fetch(url, tmp_path / "file.bin", DIGEST)
    assert destination.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=1000-"]


def test_partial_file_already_whole_is_verified(tmp_path):
    (tmp_path / "file.bin.partial").write_bytes(PAYLOAD)
    with serve() as (server, url):
        destination = archive.fetch(url, tmp_path / "file.bin", DIGEST)
    assert destination.read_bytes() == PAYLOAD
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]


def test_repeated_cuts_give_up_but_keep_the_partial_file(tmp_path):
    with serve(cuts=[100] * archive.ATTEMPTS) as (_, url), pytest.raises(PipelineError, match="after 5 attempts"):
        archive.fetch(url, tmp_path / "file.bin", DIGEST)
    assert (tmp_path / "file.bin.partial").read_bytes() == PAYLOAD[: 100 * archive.ATTEMPTS]
    assert not (tmp_path / "file.bin").exists()


def test_stale_destination_is_downloaded_again(tmp_path):
    (tmp_path / "file.bin").write_bytes(b"an older release")
    with serve() as (_, url):
        assert archive.fetch(url, tmp_path / "file.bin", DIGEST).read_bytes() == PAYLOAD


def test_server_errors_are_retried(tmp_path):
    with serve() as (server, url), pytest.raises(PipelineError, match="busy: download failed after 5 attempts .*503"):
        archive.fetch(url.replace("file.bin", "busy"), tmp_path / "file.bin", DIGEST)
    assert len(server.ranges) == archive.ATTEMPTS


def test_http_error_names_the_url(tmp_path):
    with serve() as (_, url), pytest.raises(PipelineError, match="missing.bin: HTTP 404"):
        archive.fetch(url.replace("file.bin", "missing.bin"), tmp_path / "file.bin", DIGEST)


def member(name, kind=tarfile.REGTYPE, data=b"", link=""):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data), link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, io.BytesIO(data) if data else None


def make_tar(path, members, mode="w"):
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, data)
    return path


def test_extract_unpacks_files_folders_and_links_inside(tmp_path):
    tar = make_tar(tmp_path / "ok.tar.gz", [
        member("./", tarfile.DIRTYPE),
        member("./yes", tarfile.DIRTYPE),
        member("./yes/a.wav", data=b"clip"),
        member("./README.md", data=b"readme"),
        member("latest.wav", tarfile.SYMTYPE, link="yes/a.wav"),
        member("yes/copy.wav", tarfile.LNKTYPE, link="yes/a.wav"),
    ], mode="w:gz")
    archive.extract(tar, tmp_path / "out")
    assert (tmp_path / "out" / "yes" / "a.wav").read_bytes() == b"clip"
    assert (tmp_path / "out" / "latest.wav").read_bytes() == b"clip"
    assert (tmp_path / "out" / "yes" / "copy.wav").read_bytes() == b"clip"
    assert (tmp_path / "out" / "README.md").read_bytes() == b"readme"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.tar.gz", "out"]


UNSAFE = {
    "parent": lambda outside: [member("../x", data=b"escape")],
    "deep parent": lambda outside: [member("yes/../../../x", data=b"escape")],
    "absolute": lambda outside: [member(str(outside / "abs.txt"), data=b"escape")],
    "symlink out": lambda outside: [member("passwd", tarfile.SYMTYPE, link="/etc/passwd")],
    "relative symlink out": lambda outside: [member("yes/up", tarfile.SYMTYPE, link="../../outside")],
    "hard link out": lambda outside: [member("passwd", tarfile.LNKTYPE, link="/etc/passwd")],
    "device": lambda outside: [member("null", tarfile.CHRTYPE)],
    "fifo": lambda outside: [member("pipe", tarfile.FIFOTYPE)],
    "symlink chain out": lambda outside: [
        member("here", tarfile.SYMTYPE, link="."),
        member("up", tarfile.SYMTYPE, link="here/.."),
    ],
}


@pytest.mark.parametrize("case", UNSAFE)
def test_extract_refuses_unsafe_members_and_writes_nothing(tmp_path, case):
    outside, sandbox = tmp_path / "outside", tmp_path / "sandbox"
    sandbox.mkdir()
    members = [member("yes", tarfile.DIRTYPE), member("yes/a.wav", data=b"clip"), *UNSAFE[case](outside)]
    tar = make_tar(tmp_path / "evil.tar", members)
    with pytest.raises(PipelineError, match="refusing member") as error:
        archive.extract(tar, sandbox / "target")
    assert repr(members[-1][0].name) in str(error.value)
    assert list(sandbox.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar", "sandbox"]


def test_extract_reports_a_corrupt_archive(tmp_path):
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all" * 10)
    with pytest.raises(PipelineError, match="bad.tar.gz: cannot extract"):
        archive.extract(tmp_path / "bad.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()
