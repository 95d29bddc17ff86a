"""The running app serves no file outside its own folders, keeps uploads inside Gradio's temporary
folder whatever their names, refuses oversized uploads, and loads only the models it offers."""

from __future__ import annotations

import http.client
import json
import re
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.helpers import EXAMPLES, ROOT

# Every GET route of Gradio 6.31 that takes a path or name, with {} where the payload goes.
FILE_ROUTES = [
    "/gradio_api/file={}", "/gradio_api/file/{}", "/file={}", "/assets/{}", "/static/{}", "/svelte/{}",
    "/gradio_api/proxy={}", "/gradio_api/custom_component/x/y/z/{}", "/gradio_api/run-history/records/a/b/assets/{}",
    "/gradio_api/stream/s/r/c/playlist-file?path={}", "/pwa_icon/{}", "/monitoring/{}",
]


pytestmark = pytest.mark.slow  # the real app, probed over HTTP


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> tuple[Path, str]:
    """A file outside the app's folders, with a marker no response may contain."""
    marker = f"TOP-SECRET-{uuid.uuid4().hex}"
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text(marker)
    return path, marker


def payloads(secret: Path) -> list[str]:
    up = "../" * 12
    return [
        f"{up}etc/passwd", "/etc/passwd", "//etc/passwd", quote("/etc/passwd", safe=""), quote(f"{up}etc/passwd", safe=""),
        "%2e%2e/" * 12 + "etc/passwd", "%2e%2e%2f" * 12 + "etc%2fpasswd", "..%252f" * 12 + "etc%252fpasswd",
        "....//" * 12 + "etc/passwd", "..\\" * 12 + "etc\\passwd", "file:///etc/passwd",
        str(secret), quote(str(secret), safe=""), f"{up}{str(secret).lstrip('/')}",
        str(ROOT / "app.py"), f"{up}{str(ROOT / 'explorer' / 'store.py').lstrip('/')}",
    ]


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET with the request line exactly as given (no client-side normalisation of .. or %)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(2_000_000)
    finally:
        connection.close()


def test_no_file_route_reads_outside_the_app(app_url, secret):
    path, marker = secret
    leaks = []
    for route in FILE_ROUTES:
        for payload in payloads(path):
            status, body = raw_get(app_url, route.format(payload))
            for name, sign in (("/etc/passwd", b"root:x:0:0"), ("the secret", marker.encode()),
                               ("app.py", b"ViT-Hybrid Explorer: upload an image"), ("store.py", b"class ModelStore")):
                if sign in body:
                    leaks.append(f"{route.format(payload)} -> {status} served {name}")
    assert not leaks, leaks


def upload(url: str, filename: str, data: bytes) -> tuple[int, bytes]:
    parts = urlsplit(url)
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", "/gradio_api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_uploads_with_traversal_names_land_in_gradios_temporary_folder(app_url, tmp_path):
    photo = (EXAMPLES / "chelsea.png").read_bytes()
    tag = uuid.uuid4().hex
    targets = [Path("/tmp") / f"evil-{tag}-1.png", tmp_path / f"evil-{tag}-2.png", ROOT / f"evil-{tag}-3.png"]
    names = [f"../../../../../..{targets[0]}", str(targets[1]), f"..%2f..%2f..%2f..%2f{ROOT.name}%2fevil-{tag}-3.png",
             f"..\\..\\..\\evil-{tag}-4.png"]
    for name in names:
        status, body = upload(app_url, name, photo)
        assert status == 200, body[:300]
        (stored,) = json.loads(body)
        assert Path(stored).resolve().is_relative_to(app_url.temp_dir.resolve()), stored
        assert raw_get(app_url, f"/gradio_api/file={quote(stored)}") == (200, photo)  # the route works for its own files
    assert not any(t.exists() for t in targets) and not list(ROOT.glob(f"evil-{tag}*"))


def test_uploads_over_the_size_limit_are_refused(app_url):
    status, body = upload(app_url, "big.png", b"\0" * (51 * 2**20))
    assert status == 413 and re.search(rb"(?i)too large|size", body), body[:300]


@pytest.mark.parametrize("name", ["google/vit-base-patch16-224", "/etc", str(ROOT / "tests" / "fixtures" / "models" / "same_padding")])
def test_a_hand_made_request_for_another_model_is_refused(app_url, name):
    import gradio_client

    client = gradio_client.Client(app_url, verbose=False)
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(gradio_client.handle_file(str(EXAMPLES / "coffee.jpg")), name, "crop", api_name="/explain")
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(None, "crop", name, "rollout", 4, -1, "mean", "stage2", None, "inferno", 0.6, api_name="/on_image")


@pytest.mark.parametrize("path", ["/monitoring", "/monitoring/summary", "/gradio_api/vibe-code"])
def test_monitoring_and_the_vibe_editor_are_off(app_url, path):
    status, body = raw_get(app_url, path)
    assert status in (403, 404) and b"functions" not in body, (status, body[:200])
