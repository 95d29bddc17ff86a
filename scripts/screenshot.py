"""Takes the README's screenshot of the page.

    python -m scripts.screenshot --out docs/screenshot.png

Starts the real app (`python app.py`) offline on 127.0.0.1, so on the bundled model, with a
bounded wait; opens it in Debian's Chromium through Playwright; uploads an example image; waits
until the status line says "Explained with" and the map is shown; and saves the top of the page,
down to the predictions and the status line under them (at most --height pixels), as a PNG,
quantised with Pillow when that is what keeps it under --max-kb. Needs Playwright and Debian's
chromium (/usr/bin/chromium, or --chromium).
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from explorer.paths import EXAMPLES
from explorer.server import CHROMIUM_FLAGS, offline_env, running_app

WAIT_S = 120  # for the app to answer, and then for the upload's stream to end
EXPLAINED = "() => (document.querySelector('#status')?.innerText || '').includes('Explained with')"
MAP_SHOWN = "() => { const i = document.querySelector('#overlay img'); return i && i.complete && i.naturalWidth > 0; }"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.screenshot", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"), help="the PNG to write")
    parser.add_argument("--image", type=Path, default=EXAMPLES / "scene-star.png", help="the image to upload")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in pixels")
    parser.add_argument("--height", type=int, default=1300, help="viewport height, the most that is saved, in pixels")
    parser.add_argument("--max-kb", type=int, default=200, help="the largest file to write, in kB")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium executable")
    return parser.parse_args(argv)


def compress(png: bytes, max_bytes: int) -> bytes:
    """The screenshot as the smallest of: the PNG optimised, then quantised to 256, 128 and 64
    colours, stopping at the first under `max_bytes`; raises if none is."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    candidates = [image] + [image.quantize(colors, method=Image.Quantize.MEDIANCUT) for colors in (256, 128, 64)]
    for candidate in candidates:
        buffer = io.BytesIO()
        candidate.save(buffer, format="PNG", optimize=True)
        if buffer.tell() < max_bytes:
            return buffer.getvalue()
    raise RuntimeError(f"the screenshot stays over {max_bytes} bytes even at 64 colours")


def screenshot(image: Path, width: int, height: int, chromium: str) -> bytes:
    """The top of the page, `width` wide and down to the status line (at most `height`), after
    `image`'s upload has been explained, as PNG."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = offline_env(root / "hub", GRADIO_TEMP_DIR=str(root / "gradio"))
        with running_app([], env, root / "app.log", timeout=WAIT_S) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.set_default_timeout(WAIT_S * 1000)
                page.goto(url, wait_until="domcontentloaded")
                page.locator("#image input[type=file]").set_input_files(str(image))
                page.wait_for_function(EXPLAINED)
                page.wait_for_function(MAP_SHOWN)
                page.evaluate("() => window.scrollTo(0, 0)")
                status = page.locator("#status").bounding_box()
                bottom = min(height, round(status["y"] + status["height"]) + 16) if status else height
                return page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": bottom}, animations="disabled")
            finally:
                browser.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    png = compress(screenshot(args.image, args.width, args.height, args.chromium), args.max_kb * 1000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"{args.out}: {len(png) / 1000:.1f} kB")


if __name__ == "__main__":
    main()
