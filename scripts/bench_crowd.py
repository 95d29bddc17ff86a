"""Many visitors at once: how long each waits for their first picture and their last class.

    python -m scripts.bench_crowd                 # Hub architecture (random weights), N = 1, 2, 4, 8
    python -m scripts.bench_crowd --crowds 1 4 --skip-browser --skip-memory

The page is served in this process (`app.start`, warmed up, as `python app.py --model <folder>`)
on 127.0.0.1. For each N, N gradio_client visitors, each with a photo of its own, are released by
one barrier and upload at once; times run from the release: the first picture (the message that
carries the predictions and this image's own overlay) and the last class ("5 of 5 done"). Every N
runs `--rounds` times (3), the rounds interleaved (1, 2, 4, 8, 1, 2, ...), because one round moves
with the machine by several per cent. The denominators come from the same run: the single
visitor's first message and fifth class (the medians of the N = 1 rounds), and the median of
no-grad forwards with attentions at batch 1 on an idle server, one before each round (same thread
count). Targets, on the medians over the rounds (each round's figures printed too): the slowest
first picture <= 1.15 x N x the single first message; the slowest last class <= 1.15 x N x the
single fifth class; the single first message <= 1.3 x the no-grad forward. Beside every figure,
the 1-minute load average.

Also: each step's time under load (the scheduler's own record) against alone, whether a no-grad
batch of 4 is cheaper per image than batch 1 on this device, N = 4 in Chromium (upload to the
picture shown, merged by wall-clock time), and the peak resident memory with N = the number of
passes the memory bound keeps + 2.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from gradio_client import Client, handle_file

import app
from explain.inputs import model_input
from explorer.analysis import GRAPHS, SCHEDULER
from explorer.graphs import estimate, per_token_bytes, tokens_of
from explorer.paths import EXAMPLES
from explorer.server import CHROMIUM_FLAGS, free_port, open_page, resident_mb
from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.config import hub_architecture
from vit_hybrid.images import load_image
from vit_hybrid.processor import square_processor

PHOTOS = [p for p in sorted(EXAMPLES.iterdir()) if p.suffix in {".jpg", ".png"} and not p.name.startswith("scene")]
CONTROLS = ["rollout", 12, -1, "mean", "stage2", None, "inferno", 0.6]  # method ... opacity, as the page starts
SLACK = 1.15
TIMES = ("first_picture", "last_class")  # what each visitor notes, from the release
POLL_S = 0.01  # how often a visitor looks for new messages (gradio_client's own reader looks every 50 ms)


def load() -> float:
    return os.getloadavg()[0]


def joined(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def visitor(url: str, model: str, index: int, barrier, results) -> None:
    """One visitor, in a process of its own (so that its client shares nothing with the server's
    process): waits at the barrier, uploads, and notes when its messages arrive. It looks at the
    job's outputs every `POLL_S` rather than iterating the job: gradio_client's iterator spins
    every millisecond, about 16 ms of CPU a second for each visitor, taken from the server's two
    cores, which a remote visitor's machine would not take."""
    client = Client(url, verbose=False, download_files=False)
    photo = str(PHOTOS[index % len(PHOTOS)])
    out: dict[str, float] = {}
    barrier.wait()
    start = time.perf_counter()
    job = client.submit(handle_file(photo), "crop", model, *CONTROLS, api_name="/on_image")
    seen = 0
    while True:
        done = job.done()  # before the outputs, so that nothing arrives unseen after the last look
        outputs = job.outputs()
        now = time.perf_counter() - start
        for output in outputs[seen:]:
            has_labels = any(isinstance(o, dict) and "confidences" in o for o in output)
            overlay = output[2] if len(output) > 2 else None  # SHOWN's third output: the overlay
            if has_labels and overlay:
                out.setdefault("first_picture", now)
            if any(isinstance(o, str) and "5 of 5 done" in o for o in output):
                out.setdefault("last_class", now)
        seen = len(outputs)
        if done:
            break
        time.sleep(POLL_S)
    results.put((index, out))


def crowd(url: str, model: str, n: int) -> list[dict]:
    """N visitors released together (visitor i uploads photo i, in turn); their times."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(n), context.Queue()
    processes = [context.Process(target=visitor, args=(url, model, i, barrier, results)) for i in range(n)]
    for process in processes:
        process.start()
    answers = dict(results.get(timeout=900) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return [answers[i] for i in range(n)]


def no_grad_forward(model: ViTHybridForImageClassification, pixels: torch.Tensor, batch: int = 1) -> float:
    """Seconds per image of a no-grad forward with attentions of `batch` copies."""
    start = time.perf_counter()
    with torch.no_grad():
        model(pixels.expand(batch, -1, -1, -1).contiguous(), output_attentions=True)
    return (time.perf_counter() - start) / batch


def step_times(since: int) -> dict[str, float]:
    """Median seconds of the scheduler's first and later steps run since record `since`."""
    record = list(SCHEDULER.durations)[since:]
    return {kind: statistics.median(s for k, s in record if k == kind) for kind in ("first", "later")
            if any(k == kind for k, _ in record)}


WATCH = """() => {
  const look = () => {
    const i = document.querySelector('#overlay img');
    if (i && i.complete && i.naturalWidth > 0) { window.shownAt = performance.timeOrigin + performance.now(); }
    else { requestAnimationFrame(look); }
  };
  look();
}"""


def browser_crowd(url: str, n: int) -> list[float]:
    """N Chromium pages uploading together: seconds from the release to each page's picture shown
    (each page notes the moment in wall-clock time, `performance.timeOrigin + now()`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        pages = [open_page(browser, url, 300_000, WATCH) for _ in range(n)]
        release = time.time()
        for page, photo in zip(pages, PHOTOS):
            page.locator("#image input[type=file]").set_input_files(str(photo))
        for page in pages:
            page.wait_for_function("() => window.shownAt !== undefined")
        seen = [page.evaluate("window.shownAt") / 1000 - release for page in pages]
        browser.close()
    return seen


def peak_memory_mb(url: str, model: str, n: int) -> tuple[float, float]:
    """Resident memory before and the peak (VmHWM) during a crowd of `n`."""
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak
    before = resident_mb(os.getpid())
    crowd(url, model, n)
    peak = next(int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    return before, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crowds", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--forwards", type=int, default=5, help="no-grad forwards timed at least (one before each round)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every N, interleaved; the verdicts on medians")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    report: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "hub-architecture"
        torch.manual_seed(0)
        ViTHybridForImageClassification(hub_architecture()).save_pretrained(folder)
        square_processor(384).save_pretrained(folder)
        demo, name = app.start(["--model", str(folder), "--port", str(free_port())], prevent_thread_lock=True, quiet=True)
        url = demo.local_url
        model = ViTHybridForImageClassification.from_pretrained(folder).requires_grad_(False)
        pixels, _ = model_input(load_image(PHOTOS[0]), ViTHybridImageProcessor.from_pretrained(folder), model.config)
        crowds = sorted(set(args.crowds) | {1})
        plan = [n for _ in range(args.rounds) for n in crowds]  # rounds interleaved: 1, 2, 4, 8, 1, 2, ...
        forwards, rounds = [], {n: [] for n in crowds}
        for k in range(max(args.forwards, len(plan))):
            forwards.append((no_grad_forward(model, pixels), load()))
            if k < len(plan):
                since = len(SCHEDULER.durations)
                results = crowd(url, name, plan[k])
                slowest = {t: max(r.get(t, float("inf")) for r in results) for t in TIMES}
                rounds[plan[k]].append({**slowest, "steps_s": step_times(since), "load": load()})
        forward = statistics.median(f for f, _ in forwards)
        single = {t: statistics.median(r[t] for r in rounds[1]) for t in TIMES}
        report.update(no_grad_forward_s=forward, forwards=forwards, rounds=rounds)
        print(f"no-grad forward with attentions, batch 1: median {forward:.3f} s of {len(forwards)} "
              f"(load {statistics.median(f[1] for f in forwards):.2f})")
        ratio = single["first_picture"] / forward
        print(f"one visitor (medians of {args.rounds}): first message {single['first_picture']:.3f} s = {ratio:.2f} x "
              f"the forward (target <= 1.3: {'met' if ratio <= 1.3 else 'MISSED'}), fifth class "
              f"{single['last_class']:.3f} s")
        for n, runs in rounds.items():
            ratios = {t: [r[t] / (n * single[t]) for r in runs] for t in TIMES}
            medians = {k: statistics.median(v) for k, v in ratios.items()}
            print(f"N={n}: slowest first picture {joined(r['first_picture'] for r in runs)} s = "
                  f"{joined(ratios['first_picture'])} x N x single; slowest last class "
                  f"{joined(r['last_class'] for r in runs)} s = {joined(ratios['last_class'])} x N x single; "
                  f"medians {medians['first_picture']:.2f}, {medians['last_class']:.2f} (targets <= {SLACK}: "
                  f"{'met' if max(medians.values()) <= SLACK else 'MISSED'}); steps "
                  f"{'; '.join(json.dumps({k: round(v, 3) for k, v in r['steps_s'].items()}) for r in runs)}; "
                  f"load {joined(r['load'] for r in runs)}", flush=True)
        per_image = [no_grad_forward(model, pixels, 4) / no_grad_forward(model, pixels, 1) for _ in range(3)]
        report["batch4_over_batch1_per_image"] = statistics.median(per_image)
        print(f"no-grad batch of 4 per image / batch 1: {statistics.median(per_image):.2f} "
              f"({'cheaper' if statistics.median(per_image) < 1 else 'no cheaper'} per image in a batch here, before "
              f"the cost of keeping a batch's graph whole; load {load():.2f})")
        if not args.skip_browser:
            seen = browser_crowd(url, 4)
            report["chromium_4"] = seen
            print(f"Chromium, 4 pages: pictures shown after {', '.join(f'{s:.2f}' for s in sorted(seen))} s "
                  f"(load {load():.2f})", flush=True)
        if not args.skip_memory:
            crop = estimate(model.config, per_token_bytes(model), tokens_of(model.config, 384, 384))
            kept = max(1, GRAPHS.bound // crop)
            before, peak = peak_memory_mb(url, name, kept + 2)
            report["memory"] = {"visitors": kept + 2, "bound_bytes": GRAPHS.bound, "before_mb": before, "peak_mb": peak}
            print(f"memory: {kept + 2} visitors (the bound keeps {kept} crop-view passes of {crop / 1e9:.2f} GB): "
                  f"resident {before:.0f} MB before, peak {peak:.0f} MB (load {load():.2f})", flush=True)
        demo.close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
