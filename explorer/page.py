"""The page's components by name, and handlers bound to them by name: a handler's parameters name
the components it reads (the map controls arrive together as one `Controls`), and the updates it
returns name the components it changes. A component's name is its `elem_id` (which the browser
tests find it by too); states, which have none, are added by name."""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr
import numpy as np
import PIL.Image
from gradio.processing_utils import encode_pil_to_bytes, hash_bytes

from .analysis import SCHEDULER
from .controls import CONTROL_NAMES, Controls
from .forget import Forgetting
from .scheduler import RENDER
from .store import ModelStore

CONTROLS = "controls"  # an input name that stands for every map control, passed as one `Controls`


def save_picture(picture: np.ndarray, cache: str, format: str) -> str:
    """Writes an RGB uint8 picture to Gradio's cache as Gradio names it (a folder per content hash),
    atomically and only once: the same picture sent twice (a gallery redrawn) must not be
    rewritten while the browser is still reading it."""
    data = encode_pil_to_bytes(PIL.Image.fromarray(picture), format)
    path = Path(cache) / hash_bytes(data) / f"image.{format}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    return str(path.resolve())


def encoded(components: dict[str, gr.components.Component], updates: dict[str, Any]) -> dict[str, Any]:
    """The updates with every picture (an array, or a gallery's (array, caption) pairs) encoded in
    its component's format and written to Gradio's cache, as Gradio itself would after the handler
    returned; done here so that it runs as a step between the model's (JPEG encoding beside a
    forward pass slowed it tenfold on two cores)."""

    def encode(name: str, value: Any) -> Any:
        component = components.get(name)
        if component is None:  # a state, which carries no picture
            return value
        if isinstance(value, np.ndarray):
            return save_picture(value, component.GRADIO_CACHE, component.format)
        if isinstance(component, gr.Gallery) and isinstance(value, dict) and isinstance(value.get("value"), list):
            return {**value, "value": [(encode(name, picture), label) for picture, label in value["value"]]}
        return value

    return {name: encode(name, value) for name, value in updates.items()}


def has_pictures(updates: dict[str, Any]) -> bool:
    return any(isinstance(v, np.ndarray) or (isinstance(v, dict) and isinstance(v.get("value"), list)) for v in updates.values())


class Page:
    """Components registered under names, and the model store the handlers are given."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.parts: dict[str, gr.components.Component] = {}
        self.blocks: gr.Blocks | None = None

    def add(self, name: str, component: gr.components.Component) -> Any:
        """Registers `component` under `name` and returns it."""
        self.parts[name] = component
        return component

    def collect(self, blocks: gr.Blocks) -> None:
        """Registers every component of `blocks` that has an `elem_id`, under it."""
        self.blocks = blocks
        for block in blocks.blocks.values():
            if isinstance(block, gr.components.Component) and block.elem_id:
                self.add(block.elem_id, block)

    def encode(self, updates: dict[str, Any]) -> dict[str, Any]:
        """`updates` with their pictures encoded (`encoded`), as a step between the model's."""
        if not has_pictures(updates):
            return updates
        return SCHEDULER.call("page", RENDER, lambda: encoded(self.parts, updates))

    def bind(self, handler: Callable[..., Any], outputs: Sequence[str] = (), forget: bool = False) -> dict[str, Any]:
        """The `fn`, `inputs` and `outputs` of an event that runs `handler`: its inputs are the
        components its parameters name (`store` is the page's store, `controls` every map
        control, `progress` Gradio's progress tracker); its updates go to the components they
        name, which must be among `outputs`. A generator handler streams its updates. With
        `forget`, Gradio's session copies do not keep the outputs' values (`Forgetting`: for
        outputs only API clients read)."""
        declared = inspect.signature(handler).parameters
        parameters = [p for p in declared if p not in ("store", "progress", "request")]
        names = [n for p in parameters for n in (CONTROL_NAMES if p == CONTROLS else (p,))]
        wants_store, wants_progress, takes_request = "store" in declared, "progress" in declared, "request" in declared
        forgetting = Forgetting(self.blocks, [self.parts[n] for n in outputs]) if forget else None
        wants_request = takes_request or forgetting is not None

        def arguments(values: tuple) -> dict[str, Any]:
            named = dict(zip(names, values))
            if CONTROLS in parameters:
                named[CONTROLS] = Controls(**{n: named.pop(n) for n in CONTROL_NAMES})
            if wants_store:
                named["store"] = self.store
            extra = list(values[len(names):])
            if wants_progress:
                named["progress"] = extra.pop(0)
            if wants_request:
                request = extra.pop(0)
                if forgetting is not None:
                    forgetting(getattr(request, "session_hash", None))
                if takes_request:
                    named["request"] = request
            return named

        def to_gradio(updates: dict[str, Any]) -> dict[Any, Any]:
            unknown = set(updates) - set(outputs)
            if unknown:
                raise KeyError(f"{handler.__name__} updated {sorted(unknown)}, which are not among its outputs")
            if not updates:  # Gradio reads an empty dict as one missing value, not as "nothing changed"
                return {self.parts[name]: gr.skip() for name in outputs}
            return {self.parts[name]: value for name, value in self.encode(updates).items()}

        if inspect.isgeneratorfunction(handler):

            def run(*values):
                nothing = True
                for updates in handler(**arguments(values)):
                    nothing = False
                    yield to_gradio(updates)
                if nothing:  # a generator that yields nothing would make Gradio empty every output
                    yield to_gradio({})
        else:

            def run(*values):
                return to_gradio(handler(**arguments(values)))

        signature = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
        if wants_progress:  # Gradio passes its tracker to a parameter whose default is gr.Progress()
            signature.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
        if wants_request:  # and the visitor's request (its session_hash) to one annotated gr.Request
            signature.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
        run.__signature__ = inspect.Signature(signature)
        run.__annotations__ = {"request": gr.Request} if wants_request else {}  # Gradio reads the type hints
        run.__name__ = run.__qualname__ = handler.__name__
        run.__doc__ = handler.__doc__
        return {"fn": run, "inputs": [self.parts[n] for n in names], "outputs": [self.parts[n] for n in outputs]}
