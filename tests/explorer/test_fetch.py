"""Fetching an image by URL for the agents' tool: non-public addresses and other schemes refused
before any connection; size, time and redirects bounded (against a server of the test's own on
127.0.0.1, reached only by widening which addresses are allowed)."""

from __future__ import annotations

import base64
import http.server
import threading
import time

import pytest

from explorer.fetch import FetchError, fetch
from tests.helpers import EXAMPLES

IMAGE = (EXAMPLES / "scene-star.png").read_bytes()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        if self.path == "/image.png":
            self.answer(IMAGE, {"Content-Length": str(len(IMAGE))})
        elif self.path == "/unsized":  # no Content-Length: counted while it arrives
            self.answer(b"x" * 5000, {"Connection": "close"})
        elif self.path == "/slow":
            self.send_response(200)
            self.end_headers()
            for _ in range(20):  # 10 s at most
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.5)
        elif self.path.startswith("/hop"):
            targets = {"/hop": "/image.png", "/hop-away": f"http://127.0.0.2:{port}/image.png", "/hop-loop": "/hop-loop"}
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def answer(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that hangs up on purpose (size, time)
        pass


@pytest.fixture(scope="module")
def server():
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=10)


def only_127_0_0_1(address: str) -> bool:
    return address == "127.0.0.1"


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/image.png", "http://localhost:{port}/image.png",
                                 "http://[::1]:{port}/", "http://10.1.2.3/x.png", "https://192.168.0.1/x.png",
                                 "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:{port}/image.png"])
def test_loopback_private_and_reserved_addresses_are_refused(server, url):
    with pytest.raises(FetchError, match="only images on public addresses are fetched"):
        fetch(url.format(port=server.rsplit(":", 1)[1]))


@pytest.mark.parametrize(("url", "message"), [
    ("file:///etc/passwd", "Only http and https URLs"), ("ftp://example.org/x.png", "Only http and https URLs"),
    ("/etc/passwd", "Only http and https URLs"), ("data:image/png,rawbytes", "must carry base64 bytes"),
    ("data:image/png;base64,@@@", "not valid base64"),
])
def test_other_kinds_of_url_are_refused(url, message):
    with pytest.raises(FetchError, match=message):
        fetch(url)


def test_a_data_url_carries_its_bytes():
    assert fetch("data:image/png;base64," + base64.b64encode(IMAGE).decode()) == IMAGE
    with pytest.raises(FetchError, match="larger than 0.001 MB"):
        fetch("data:image/png;base64," + base64.b64encode(IMAGE).decode(), max_bytes=1000)


def test_an_allowed_server_is_fetched_with_its_redirects_checked_again(server):
    assert fetch(f"{server}/image.png", allowed=only_127_0_0_1) == IMAGE
    assert fetch(f"{server}/hop", allowed=only_127_0_0_1) == IMAGE
    with pytest.raises(FetchError, match="127.0.0.2, a loopback, private or reserved address"):
        fetch(f"{server}/hop-away", allowed=only_127_0_0_1)
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        fetch(f"{server}/hop-loop", allowed=only_127_0_0_1)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{server}/missing.png", allowed=only_127_0_0_1)


def test_size_and_time_are_bounded(server):
    with pytest.raises(FetchError, match="larger than 0.001 MB"):
        fetch(f"{server}/image.png", max_bytes=1000, allowed=only_127_0_0_1)  # told by Content-Length
    with pytest.raises(FetchError, match="larger than 0.001 MB"):
        fetch(f"{server}/unsized", max_bytes=1000, allowed=only_127_0_0_1)  # counted as it arrives
    with pytest.raises(FetchError, match="took longer than 1 s"):  # the server would trickle for 10 s
        fetch(f"{server}/slow", timeout=1.0, allowed=only_127_0_0_1)
