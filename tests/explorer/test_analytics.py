"""Gradio computes no summary of its events (for its monitoring pages, which the app turns off)."""

from __future__ import annotations

import time

import pytest
from gradio.queueing import Queue

from explorer.server import free_port
from explorer.store import ModelStore
from tests.helpers import BUNDLED, EXAMPLES

gradio_client = pytest.importorskip("gradio_client")


@pytest.mark.parametrize("summary", ["as built", "Gradio's default"])
def test_no_event_summary_is_computed(tmp_path, monkeypatch, summary):
    import app

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    tables = []
    original = Queue._get_df
    monkeypatch.setattr(Queue, "_get_df", staticmethod(lambda records: tables.append(len(records)) or original(records)))
    demo = app.build(ModelStore({"bundled": str(BUNDLED)}), "bundled")
    if summary == "Gradio's default":  # the control: every event recomputes it
        demo._queue.ANAYLTICS_CACHE_FREQUENCY = 1
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = gradio_client.Client(demo.local_url, verbose=False)
        for _ in range(2):
            answer = client.predict(gradio_client.handle_file(str(EXAMPLES / "scene-star.png")), "bundled", "crop",
                                    api_name="/explain")
            assert answer["predictions"][0]["label"] == "star"
        time.sleep(1.0)  # Gradio computes it in a worker thread once the event has ended
        assert demo._queue.events_recorded >= 2
        assert (tables == []) == (summary == "as built"), tables
    finally:
        demo.close()
