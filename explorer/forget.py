"""Outputs that Gradio need not keep. Gradio keeps the last value of every output in each
session's copy of the page (to rebuild the page for a deep link), for up to
`state_session_capacity` sessions (10,000). For an output that only API clients read that is
waste: an `/explain` record is some 0.5 MB as Python objects, which no client reads back from
there; each new client session kept one (`python -m scripts.memory_app --trace` named it), so
10,000 would hold about 5 GB."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import gradio as gr


class Forgetting:
    """Drops the values of `components` from the session copies of `blocks`' page. Each call
    notes the caller's session and drops what the sessions noted before still hold: a session
    stays noted until a value was found and dropped (its own call may still be running, its value
    stored only after the handler returns), so only the values of the calls in flight and of the
    last one are kept."""

    def __init__(self, blocks: gr.Blocks, components: Sequence[gr.components.Component]) -> None:
        self.blocks, self.ids = blocks, [c._id for c in components]
        self.noted: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, session_hash: str | None) -> None:
        holder = getattr(self.blocks, "state_holder", None)  # Gradio's, once the page is served
        with self.lock:
            for session in list(self.noted):
                if holder is None or self.drop(holder.session_data.get(session)):
                    self.noted.discard(session)
            if session_hash:
                self.noted.add(session_hash)

    def drop(self, session: Any) -> bool:
        """Drops the values `session` (Gradio's `SessionState`, or None once Gradio let it go)
        holds; whether there was one (None: nothing is left to hold one)."""
        if session is None:
            return True
        found = False
        for key in self.ids:
            props = session.config_values.get(key, {}).get("props", {})
            found = props.pop("value", None) is not None or found
        return found
