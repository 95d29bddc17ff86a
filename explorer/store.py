"""The models an app serves: an allowed list, a default with an offline fallback, and a few loaded
models kept in memory (least recently used goes first), each loaded once and shared read-only.

A visitor names a model; the store loads it (or finds it loaded) and hands back the model with
its processor. A name outside the allowed list is refused unless the operator allowed any.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor
from vit_hybrid.files import CONFIG_NAME, WEIGHT_NAMES
from vit_hybrid.processor import processor_or_square

from .graphs import per_token_bytes

DEFAULT_MODEL = "google/vit-hybrid-base-bit-384"


class ModelLoadError(RuntimeError):
    """A model that is not allowed or could not be loaded; the message says which and why."""


@dataclass(frozen=True)
class ServedModel:
    """A loaded model and its processor; `autocast` the dtype its explanations run in (None: float32);
    `per_token` what a kept pass holds per token beyond its attention (`explorer.graphs`)."""

    name: str
    model: ViTHybridForImageClassification
    processor: ViTHybridImageProcessor
    autocast: torch.dtype | None = None
    per_token: float = 0.0


def hub_cached(repo_id: str) -> bool:
    """Whether config.json and the weights of `repo_id` are in the local Hub cache."""
    from huggingface_hub import try_to_load_from_cache

    if os.path.isdir(repo_id):
        return False

    def cached(filename: str) -> bool:
        try:
            return isinstance(try_to_load_from_cache(repo_id, filename), str)
        except ValueError:  # not a valid repo id
            return False

    return cached(CONFIG_NAME) and any(cached(f) for f in WEIGHT_NAMES)


def hub_reachable(repo_id: str, timeout: float = 3.0) -> bool:
    """Whether the Hub answers for `repo_id` within `timeout` seconds (False when HF_HUB_OFFLINE).

    The probe runs in a daemon thread, so that a resolver that hangs cannot hold the caller
    longer than `timeout` (huggingface_hub's own download retries for about 23 s offline)."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return False
    answer: list[bool] = []

    def probe() -> None:
        try:
            HfApi().model_info(repo_id, timeout=timeout)
            answer.append(True)
        except Exception:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def choose_default(bundled: str | Path, repo_id: str = DEFAULT_MODEL, timeout: float = 3.0) -> tuple[str, str | None]:
    """The model to start with: `repo_id` when cached or reachable, else the bundled folder.

    Returns the source and, when falling back, a note for the page that says so."""
    if hub_cached(repo_id) or hub_reachable(repo_id, timeout):
        return repo_id, None
    return str(bundled), (
        f"{repo_id} is not in the local Hugging Face cache and the Hub cannot be reached, "
        "so this page shows the bundled shape-scene model (circle, square, triangle, star, cross, ring)."
    )


def load_served(name: str, source: str, device: str | torch.device = "cpu", autocast: torch.dtype | None = None
                ) -> ServedModel:
    """Loads a model and its processor for serving: eval mode, frozen, on `device`.

    Frozen parameters make explanations cheaper (no parameter gradients, cached standardised
    weights). A checkpoint without a processor config gets the default processor at its size.
    A Hub id already in the local cache is read from it without asking the Hub (which, offline,
    would retry for many seconds first)."""
    local = hub_cached(source)
    try:
        model = ViTHybridForImageClassification.from_pretrained(source, local_files_only=local)
    except Exception as err:  # CheckpointError, ConfigError, I/O: the visitor sees why
        raise ModelLoadError(f"The model {name!r} could not be loaded: {err}") from None
    model.requires_grad_(False).to(device)
    try:
        processor = processor_or_square(source, model.config.image_size, local_files_only=local)
    except Exception as err:  # a processor config that is there but broken
        raise ModelLoadError(f"The model {name!r} could not be loaded: its preprocessor_config.json: {err}") from None
    return ServedModel(name, model, processor, autocast, per_token_bytes(model))


class ModelStore:
    """Named models, loaded on first use, at most `capacity` in memory at once.

    Args:
        sources: display name -> folder or Hub id, the models visitors may pick.
        capacity: how many loaded models to keep; the least recently used one is dropped.
        allow_any: also accept any other folder or Hub id as a name (off by default: a public
            page must not load whatever a visitor types).
        autocast: the dtype explanations run in (bfloat16 on a GPU when asked); None: float32.
    """

    def __init__(self, sources: dict[str, str], capacity: int = 2, device: str | torch.device = "cpu", allow_any: bool = False,
                 autocast: torch.dtype | None = None):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.sources = dict(sources)
        self.capacity = capacity
        self.device = device
        self.autocast = autocast
        self.allow_any = allow_any
        self._loaded: OrderedDict[str, ServedModel] = OrderedDict()
        self._lock = threading.Lock()  # guards the two dicts; never held while a model loads
        self._loading: dict[str, threading.Lock] = {}  # one per name: a model loads once at a time

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def get(self, name: str) -> ServedModel:
        """The loaded model called `name`; `ModelLoadError` if it is not allowed or will not load."""
        if name not in self.sources and not self.allow_any:
            raise ModelLoadError(f"{name!r} is not one of the models this app serves ({', '.join(self.sources)}).")
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # visitors of other, loaded models are not held up by this load
            with self._lock:
                if name in self._loaded:  # loaded by whoever held `loading` before us
                    return self._loaded[name]
            served = load_served(name, self.sources.get(name, name), self.device, self.autocast)
            with self._lock:
                self._loaded[name] = served
                while len(self._loaded) > self.capacity:
                    self._loaded.popitem(last=False)
            return served

    def loaded(self) -> list[str]:
        """Names of the models in memory, least recently used first."""
        with self._lock:
            return list(self._loaded)
