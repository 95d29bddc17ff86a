"""Times the running app: upload against the explanation's own compute, re-renders on the server
and in a real browser, and the offline start.

    python scripts/bench_app.py                 # the Hub architecture (random weights) and the bundled model
    python scripts/bench_app.py --reps 5 --skip-hub

For each model it serves the app's page (`app.build`, as `python app.py --model <folder>` does)
on 127.0.0.1 in this process, drives it with gradio_client, and reports medians of the server's
own time per event, as Gradio's queue records it (preprocess, handler, postprocess; not the HTTP
round trip, which is reported beside it):
- upload: the page's upload event (`/on_image`: decode, explain the top 5, draw, write the JSON
  download) over `explain` called directly on the same image;
- re-render: the page's redraw event (`/on_control`) after a layer change and after an opacity
  change;
- browser: in Chromium, from setting the layer to the new overlay shown on the page;
- start (bundled only): from `python app.py` with the Hub unreachable to the first correct
  answer through `/explain`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from explain import explain  # noqa: E402
from explorer.paths import BUNDLED, BUNDLED_NAME, EXAMPLES, ROOT  # noqa: E402
from explorer.server import CHROMIUM_FLAGS, free_port, offline_env, wait_until_up  # noqa: E402
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor  # noqa: E402
from vit_hybrid.config import hub_architecture  # noqa: E402
from vit_hybrid.images import load_image  # noqa: E402
from vit_hybrid.processor import square_processor  # noqa: E402

PHOTO = EXAMPLES / "chelsea.png"


def controls(layer: int, opacity: float = 0.6) -> list:
    """The page's map controls: method, layer, head, fusion, stage, class, colormap, opacity."""
    return ["rollout", layer, -1, "mean", "stage2", None, "inferno", opacity]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def serve(folder: Path):
    """The app's page for one model, launched in this process; returns it and its URL."""
    import app
    from explorer.launch import make_store, parse_args

    store, default, note = make_store(parse_args(["--model", str(folder)]))
    demo = app.build(store, default, note)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, demo.local_url


def server_seconds(demo, name: str) -> float:
    """Total server time Gradio's queue has recorded for the events running handler `name`."""
    return sum(t.process_time for fn, t in demo._queue.process_time_per_fn.items() if fn.name == name)


def server_times(demo, url: str, layers: int, reps: int) -> dict[str, list[float]]:
    client = Client(url, verbose=False)
    times: dict[str, list[float]] = {k: [] for k in ("upload", "layer", "opacity", "upload_rtt", "layer_rtt")}

    def call(kind: str, handler: str, *args) -> None:
        before = server_seconds(demo, handler)
        rtt = timed(lambda: client.predict(*args, api_name=f"/{handler}"))
        time.sleep(0.05)  # the queue records the time just after answering
        times[kind].append(server_seconds(demo, handler) - before)
        if f"{kind}_rtt" in times:
            times[f"{kind}_rtt"].append(rtt)

    for _ in range(reps):
        photo = handle_file(str(PHOTO))
        call("upload", "on_image", photo, "crop", *controls(layers))
        for layer in (1, layers // 2 + 1, layers):
            call("layer", "on_control", *controls(layer))
        for opacity in (0.3, 0.8):
            call("opacity", "on_control", *controls(layers, opacity))
        client.reset_session()  # the next upload is a new visitor's: explained again
    return times


def direct_times(folder: Path, reps: int) -> list[float]:
    model = ViTHybridForImageClassification.from_pretrained(folder).requires_grad_(False)
    processor = ViTHybridImageProcessor.from_pretrained(folder)
    image = load_image(PHOTO)
    explain(model, image, processor)  # warm-up
    return [timed(lambda: explain(model, image, processor)) for _ in range(reps)]


def browser_times(url: str, layers: int, reps: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.locator("#image input[type=file]").set_input_files(str(PHOTO))
        page.locator("#status", has_text="Explained with").wait_for()
        page.wait_for_timeout(2000)  # let the gallery settle
        slider = page.locator("#layer input[type=number]")
        for _ in range(reps):
            for layer in (1, layers):
                old = page.locator("#overlay img").get_attribute("src")
                start = time.perf_counter()
                slider.fill(str(layer))
                slider.press("Enter")
                page.wait_for_function("old => { const i = document.querySelector('#overlay img');"
                                       " return i && i.src !== old && i.complete && i.naturalWidth > 0; }",
                                       arg=old, polling="raf")
                times.append(time.perf_counter() - start)
        browser.close()
    return times


def start_time(work: Path) -> float:
    """Seconds from `python app.py` (Hub unreachable, empty cache) to a correct /explain answer."""
    import subprocess

    port = free_port()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT,
                               env=offline_env(work / "empty-hub"), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", process, 120)
        record = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            handle_file(str(PHOTO)), BUNDLED_NAME, "crop", api_name="/explain")
        elapsed = time.perf_counter() - start
        assert record["predictions"][0]["label"] in {"circle", "square", "triangle", "star", "cross", "ring"}
        return elapsed
    finally:
        process.terminate()
        process.wait(timeout=20)


def report(name: str, server: dict[str, list[float]], direct: list[float], browser: list[float]) -> dict:
    median = {k: statistics.median(v) for k, v in server.items()}
    result = {
        "model": name,
        "upload_server_s": median["upload"],
        "upload_round_trip_s": median["upload_rtt"],
        "explain_s": statistics.median(direct),
        "upload_server_over_explain": median["upload"] / statistics.median(direct),
        "rerender_layer_server_ms": 1000 * median["layer"],
        "rerender_layer_round_trip_ms": 1000 * median["layer_rtt"],
        "rerender_opacity_server_ms": 1000 * median["opacity"],
        "browser_layer_change_to_image_ms": 1000 * statistics.median(browser) if browser else None,
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--skip-hub", action="store_true", help="only the bundled model")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = [("bundled", BUNDLED)]
        if not args.skip_hub:
            folder = work / "hub-architecture"
            torch.manual_seed(0)
            ViTHybridForImageClassification(hub_architecture()).save_pretrained(folder)
            square_processor(384).save_pretrained(folder)
            models.insert(0, ("Hub architecture, random weights", folder))
        for name, folder in models:
            demo, url = serve(folder)
            layers = ViTHybridForImageClassification.from_pretrained(folder).config.num_hidden_layers
            server = server_times(demo, url, layers, args.reps)
            browser = [] if args.skip_browser else browser_times(url, layers, args.reps)
            demo.close()
            report(name, server, direct_times(folder, args.reps), browser)
        print(json.dumps({"offline_start_to_first_answer_s": statistics.median(start_time(work) for _ in range(3))}))


if __name__ == "__main__":
    main()
