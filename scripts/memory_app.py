"""Does the page's memory stay flat under a long API load? Resident memory after each round of
requests, and what still grows.

    python -m scripts.memory_app               # 5 rounds of 1,000 /explain requests from 8 clients, bundled model
    python -m scripts.memory_app --trace       # the same, naming what grows (resident figures then include tracemalloc's)
    python -m scripts.memory_app --rounds 3 --requests 200

The page is served in this process (`app.start`, warmed up, as `python app.py` serves the bundled
model offline). Each round, 8 clients, each in a process of its own, send their share of the
requests as the load tests do (`tests/explorer/test_many_visitors.py`): two example images of their own and a file
that is not an image, in turn, each answered before the next. After each round: the resident
memory (VmRSS) and its growth since the last round (target: at most 10 MB a round after the
second). With --trace, tracemalloc traces Python's allocations from the start, its snapshots after
the second round and the last are written to disk (a snapshot held in memory would be counted as
growth), and their difference is printed, largest growth first: what still grows.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from gradio_client import Client, handle_file

from explorer.paths import BUNDLED_NAME, EXAMPLES
from explorer.server import free_port, resident_mb

GOOD = sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".jpg", ".png"})
PER_ROUND_MB = 10


def client(url: str, index: int, count: int, bad: str, results) -> None:
    """One client: `count` requests, two good images of its own and the bad file in turn."""
    api = Client(url, verbose=False)
    mine = [str(GOOD[(2 * index) % len(GOOD)]), str(GOOD[(2 * index + 1) % len(GOOD)]), bad]
    failed = 0
    for n in range(count):
        try:
            api.predict(handle_file(mine[n % 3]), BUNDLED_NAME, "crop", api_name="/explain")
            failed += mine[n % 3] == bad  # a bad file must be refused
        except Exception as err:  # the app's message for the bad file; anything else is a failure
            failed += mine[n % 3] != bad or "text file" not in str(err)
    results.put(failed)


def load_round(url: str, requests: int, clients: int, bad: str) -> int:
    """One round of `requests` requests from `clients` processes; how many were answered wrongly."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    processes = [context.Process(target=client, args=(url, i, share, bad, results)) for i, share in enumerate(shares)]
    for process in processes:
        process.start()
    failed = sum(results.get(timeout=3600) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--trace", action="store_true", help="name what grows with tracemalloc")
    parser.add_argument("--top", type=int, default=12, help="lines of the tracemalloc difference to print")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(8)
    import app

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(Path(tmp) / "hub"))
        bad = Path(tmp) / "notes.txt"
        bad.write_text("not a picture\n")
        demo, _ = app.start(["--port", str(free_port())], prevent_thread_lock=True, quiet=True)
        last, snapshots, over = resident_mb(os.getpid()), {}, []
        print(f"resident after start: {last:.0f} MB", flush=True)
        for round_ in range(1, args.rounds + 1):
            start = time.perf_counter()
            failed = load_round(demo.local_url, args.requests, args.clients, str(bad))
            now = resident_mb(os.getpid())
            print(f"round {round_}: {args.requests} requests in {time.perf_counter() - start:.0f} s, {failed} wrong; "
                  f"resident {now:.0f} MB ({now - last:+.0f} MB)", flush=True)
            if round_ > 2 and now - last > PER_ROUND_MB:
                over.append(round_)
            last = now
            if args.trace and round_ in (2, args.rounds):
                snapshots[round_] = Path(tmp) / f"round{round_}.snapshot"
                tracemalloc.take_snapshot().dump(snapshots[round_])
        if 2 in snapshots and args.rounds > 2:
            print(f"tracemalloc, round {args.rounds} against round 2 (largest growth first):")
            later, second = (tracemalloc.Snapshot.load(snapshots[n]) for n in (args.rounds, 2))
            for stat in later.compare_to(second, "traceback")[: args.top]:
                frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[::-1][:5])
                print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {frames}")
        demo.close()
    print(f"target, at most {PER_ROUND_MB} MB a round after the second: "
          + (f"MISSED in round(s) {', '.join(map(str, over))}" if over else "met"))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
