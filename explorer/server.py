"""Serving the real app on 127.0.0.1 for tests and benchmarks: `python app.py` in a process of its
own, with a bounded wait, and the flags Debian's Chromium needs to drive it here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .paths import ROOT

# Debian's chromium as root on a closed network: no sandbox, no GPU, none of its own traffic.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]


def open_page(browser: Any, url: str, timeout_ms: int = 120_000, script: str | None = None) -> Any:
    """A new Playwright page (1400 x 1000) on the app, once its image input is there, with
    `script` run in it (the benchmarks' watchers)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.locator("#image").wait_for()
    if script:
        page.evaluate(script)
    return page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_env(hub_cache: Path, **extra: str) -> dict[str, str]:
    """The environment of an app that cannot reach the Hub and sees only `hub_cache`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "GRADIO_", "VIT_HYBRID_"))}
    env.update(HF_HUB_CACHE=str(hub_cache), HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False", **extra)
    return env


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> float:
    """Seconds until `url` answers 200; raises if the process dies or `timeout` passes."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the app did not answer at {url} within {timeout} s")


def resident_mb(pid: int) -> float:
    """The resident memory of process `pid`, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Url(str):
    """The app's URL, carrying the server's process id (`.pid`) and, where the test set one,
    Gradio's upload folder (`.temp_dir`)."""

    pid: int
    temp_dir: Path


@contextmanager
def running_app(args: list[str], env: dict[str, str], log: Path, timeout: float = 90) -> Iterator[Url]:
    """Runs `python app.py ARGS --port <free>` and yields its URL (with `.pid`) once it answers;
    stops it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_until_up(url, process, timeout)
        except (RuntimeError, TimeoutError) as err:
            raise RuntimeError(f"{err}; its log:\n{log.read_text()[-3000:]}") from None
        served = Url(url)
        served.pid = process.pid
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

