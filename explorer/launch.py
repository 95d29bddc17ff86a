"""How the app starts: its command-line flags (with the environment variables a Space sets) and
the model store it serves, loaded before the first visitor arrives."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from .analysis import GRAPHS, SCHEDULER
from .gpu import MODELS, ZERO_GPU
from .graphs import GRAPH_MEMORY
from .paths import BUNDLED, BUNDLED_NAME
from .scheduler import JOB_WAIT_S
from .store import DEFAULT_MODEL, ModelLoadError, ModelStore, choose_default

QUEUE_SIZE = 32  # waiting requests; beyond it a visitor is told the app is busy
CONCURRENCY = 16  # model events admitted at once (their steps then wait in the scheduler): at least the
# largest crowd benchmarked (8), well under Gradio's 40 worker threads, each waiting handler holding one


def parse_args(argv: list[str] | None = None, description: str | None = None) -> argparse.Namespace:
    """The app's flags; hosts and ports default to GRADIO_SERVER_NAME / GRADIO_SERVER_PORT."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None,
                        help="a Hub id or local folder visitors may pick (repeatable; the first is the default). "
                             "Default: $VIT_HYBRID_MODEL (comma-separated), else google/vit-hybrid-base-bit-384, "
                             "or the bundled model when that is neither cached nor reachable")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--allow-any-model", action="store_true",
                        help="let visitors type any Hub id or server folder in the page (never on a public Space)")
    parser.add_argument("--max-models", type=int, default=3, help="models held in memory at once")
    parser.add_argument("--queue-size", type=int, default=QUEUE_SIZE,
                        help="requests that may wait; beyond it a visitor is told the app is busy and to retry")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help="uploads, API calls and measurements admitted at once; their model steps then share one "
                             "scheduler (beyond it, visitors see Gradio's queue position)")
    parser.add_argument("--graph-memory", type=float, default=GRAPH_MEMORY / 2**30,
                        help="GiB that kept forward passes (waiting for their class backwards) may hold in all; a "
                             "visitor beyond it gets the predictions at once and the classes when there is room")
    parser.add_argument("--job-wait", type=float, default=JOB_WAIT_S,
                        help="seconds an API or tool job's step may wait before it runs next")
    parser.add_argument("--bfloat16", action="store_true", default=os.environ.get("VIT_HYBRID_BFLOAT16") == "1",
                        help="on a CUDA GPU, explain in bfloat16 autocast (float32, the default, is the exact path; "
                             "ZeroGPU always uses bfloat16). Default: $VIT_HYBRID_BFLOAT16 == 1, which a Space can set")
    parser.add_argument("--mcp", action="store_true", default=None,
                        help="also serve Gradio's MCP server (tools for AI agents) at /gradio_api/mcp/; "
                             "default: $GRADIO_MCP_SERVER, as Gradio reads it")
    return parser.parse_args(argv)


def make_store(args: argparse.Namespace) -> tuple[ModelStore, str, str | None]:
    """The allowed models (those named plus the bundled one), the default, and a fallback note."""
    named = args.model or [m.strip() for m in os.environ.get("VIT_HYBRID_MODEL", "").split(",") if m.strip()]
    note = None
    if not named:
        source, note = choose_default(BUNDLED, DEFAULT_MODEL)
        named = [source]
    sources = {BUNDLED_NAME if Path(m).resolve() == BUNDLED else m: m for m in named}
    sources.setdefault(BUNDLED_NAME, str(BUNDLED))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    capacity = len(sources) if ZERO_GPU else args.max_models  # ZeroGPU's workers read every model from MODELS
    autocast = torch.bfloat16 if args.bfloat16 and device == "cuda" else None
    store = ModelStore(sources, capacity=capacity, device=device, allow_any=args.allow_any_model and not ZERO_GPU,
                       autocast=autocast)
    default = next(iter(sources))
    GRAPHS.bound, SCHEDULER.job_wait_s = int(args.graph_memory * 2**30), args.job_wait
    try:
        store.get(default)  # load before serving, so the first visitor does not wait for it
    except ModelLoadError as err:
        note = f"{err} Showing the bundled model instead."
        default = BUNDLED_NAME
        store.get(default)
    if ZERO_GPU:  # every allowed model, at start-up, where the forked GPU workers find them
        for name in store.names:
            try:
                MODELS[name] = store.get(name).model
            except ModelLoadError as err:
                print(err, flush=True)
    return store, default, note
