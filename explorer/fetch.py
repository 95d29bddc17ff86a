"""Fetching an image that an agent names by URL, safely: only http(s), only public addresses (what
Gradio's own safe fetch, `safehttpx`, calls public), the connection pinned to the address that was
checked (no DNS rebinding), every redirect checked again, and the size and total time bounded.
A data: URL carries its bytes and is decoded without any fetch.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
import urllib.parse
from collections.abc import Callable

import httpx
import safehttpx

MAX_BYTES = 20_000_000  # an image larger than this is refused (the page's uploads stop at 50 MB)
TIMEOUT_S = 15.0  # for the whole fetch, redirects included
MAX_REDIRECTS = 5


class FetchError(ValueError):
    """An image that could not, or must not, be fetched; the message says why."""


async def _public_address(host: str, port: int, allowed: Callable[[str], bool]) -> str:
    """An address of `host` to connect to; FetchError when any of its addresses is not allowed."""
    try:
        addresses = [ipaddress.ip_address(host.strip("[]")).compressed]
    except ValueError:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise FetchError(f"The host {host!r} could not be found ({err.strerror}).") from None
        addresses = list(dict.fromkeys(info[4][0] for info in found))
    refused = [a for a in addresses if not allowed(a)]
    if refused or not addresses:
        raise FetchError(f"{host} is at {', '.join(refused)}, a loopback, private or reserved address: "
                         "only images on public addresses are fetched.")
    return addresses[0]


async def _fetch(url: str, max_bytes: int, allowed: Callable[[str], bool]) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchError(f"Only http and https URLs (or data: URLs) can be fetched, not {url[:80]!r}.")
        address = await _public_address(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), allowed)
        transport = safehttpx.AsyncSecureTransport(address)  # connects to the checked address, TLS for the host
        client = httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, timeout=TIMEOUT_S)
        async with client, client.stream("GET", url) as response:
            if response.is_redirect:
                url = urllib.parse.urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise FetchError(f"The URL answered with HTTP {response.status_code}, not an image.")
            if int(response.headers.get("content-length") or 0) > max_bytes:
                raise FetchError(f"The image is larger than {max_bytes / 1e6:g} MB.")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise FetchError(f"The image is larger than {max_bytes / 1e6:g} MB.")
            return bytes(data)
    raise FetchError(f"The URL redirected more than {MAX_REDIRECTS} times.")


def data_url_bytes(url: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes a base64 data: URL carries."""
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise FetchError("A data: URL must carry base64 bytes (data:image/png;base64,...).")
    if len(payload) * 3 // 4 > max_bytes:
        raise FetchError(f"The image is larger than {max_bytes / 1e6:g} MB.")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as err:
        raise FetchError(f"The data: URL is not valid base64 ({err}).") from None


def fetch(url: str, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_S,
          allowed: Callable[[str], bool] = safehttpx.is_public_ip) -> bytes:
    """The bytes at an http(s) URL or in a data: URL; FetchError says why there are none.

    Args:
        allowed: which addresses may be fetched from (public ones; tests widen it to reach a
            server of their own on 127.0.0.1).
    """
    url = url.strip()
    if url.startswith("data:"):
        return data_url_bytes(url, max_bytes)
    try:
        return asyncio.run(asyncio.wait_for(_fetch(url, max_bytes, allowed), timeout))
    except (TimeoutError, asyncio.TimeoutError):
        raise FetchError(f"Fetching the image took longer than {timeout:g} s.") from None
    except httpx.HTTPError as err:
        raise FetchError(f"The image could not be fetched ({type(err).__name__}: {err}).") from None
