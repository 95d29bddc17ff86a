"""The page's components by name, and handlers bound to them by name: a handler's parameters name
the components it reads (the map controls arrive together as one `Controls`), and the updates it
returns name the components it changes. A component's name is its `elem_id` (which the browser
tests find it by too); states, which have none, are added by name."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import gradio as gr

from .controls import CONTROL_NAMES, Controls
from .store import ModelStore

CONTROLS = "controls"  # an input name that stands for every map control, passed as one `Controls`


class Page:
    """Components registered under names, and the model store the handlers are given."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.parts: dict[str, gr.components.Component] = {}

    def add(self, name: str, component: gr.components.Component) -> Any:
        """Registers `component` under `name` and returns it."""
        self.parts[name] = component
        return component

    def collect(self, blocks: gr.Blocks) -> None:
        """Registers every component of `blocks` that has an `elem_id`, under it."""
        for block in blocks.blocks.values():
            if isinstance(block, gr.components.Component) and block.elem_id:
                self.add(block.elem_id, block)

    def bind(self, handler: Callable[..., Any], outputs: Sequence[str] = ()) -> dict[str, Any]:
        """The `fn`, `inputs` and `outputs` of an event that runs `handler`: its inputs are the
        components its parameters name (`store` is the page's store, `controls` every map
        control, `progress` Gradio's progress tracker); its updates go to the components they
        name, which must be among `outputs`. A generator handler streams its updates."""
        declared = inspect.signature(handler).parameters
        parameters = [p for p in declared if p not in ("store", "progress")]
        names = [n for p in parameters for n in (CONTROL_NAMES if p == CONTROLS else (p,))]
        wants_store, wants_progress = "store" in declared, "progress" in declared

        def arguments(values: tuple) -> dict[str, Any]:
            named = dict(zip(names, values))
            if CONTROLS in parameters:
                named[CONTROLS] = Controls(**{n: named.pop(n) for n in CONTROL_NAMES})
            if wants_store:
                named["store"] = self.store
            if wants_progress:
                named["progress"] = values[len(names)]
            return named

        def to_gradio(updates: dict[str, Any]) -> dict[Any, Any]:
            unknown = set(updates) - set(outputs)
            if unknown:
                raise KeyError(f"{handler.__name__} updated {sorted(unknown)}, which are not among its outputs")
            if not updates:  # Gradio reads an empty dict as one missing value, not as "nothing changed"
                return {self.parts[name]: gr.skip() for name in outputs}
            return {self.parts[name]: value for name, value in updates.items()}

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
        run.__signature__ = inspect.Signature(signature)
        run.__name__ = run.__qualname__ = handler.__name__
        run.__doc__ = handler.__doc__
        return {"fn": run, "inputs": [self.parts[n] for n in names], "outputs": [self.parts[n] for n in outputs]}
