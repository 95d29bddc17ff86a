"""Gradio's session copies keep no /explain record: each client session kept one (some 0.5 MB as
Python objects) for up to 10,000 sessions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from explorer.forget import Forgetting
from explorer.server import free_port
from explorer.store import ModelStore
from tests.helpers import BUNDLED, EXAMPLES

gradio_client = pytest.importorskip("gradio_client")
RECORD = SimpleNamespace(_id=7)


def holder(**values) -> SimpleNamespace:
    """A stand-in for Gradio's state holder: session -> its copy of the record's config."""
    sessions = {s: SimpleNamespace(config_values={7: {"props": {"value": v} if v else {}}}) for s, v in values.items()}
    return SimpleNamespace(state_holder=SimpleNamespace(session_data=sessions))


def held(blocks) -> set[str]:
    return {s for s, state in blocks.state_holder.session_data.items() if "value" in state.config_values[7]["props"]}


def test_a_session_stays_noted_until_its_value_is_dropped():
    blocks = holder(a=None, b=None, c=None)
    forget = Forgetting(blocks, [RECORD])
    forget("a")  # a's call runs; its value is stored after its handler returns
    forget("b")  # b's call starts before a's value is there: a stays noted
    assert forget.noted == {"a", "b"}
    for session in ("a", "b"):
        blocks.state_holder.session_data[session].config_values[7]["props"]["value"] = {"record": session}
    forget("c")
    assert held(blocks) == set() and forget.noted == {"c"}
    forget("c")  # c again: its own earlier value goes, c stays noted for this call's
    assert forget.noted == {"c"}
    del blocks.state_holder.session_data["c"]  # Gradio let the session go: nothing to drop there
    forget(None)
    assert forget.noted == set()


def test_the_apps_api_sessions_keep_no_explain_record(tmp_path, monkeypatch):
    import app

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = app.build(ModelStore({"bundled": str(BUNDLED)}), "bundled")
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        record = next(b._id for b in demo.blocks.values() if getattr(b, "elem_id", None) == "record")
        for _ in range(3):  # three clients: three sessions
            answer = gradio_client.Client(demo.local_url, verbose=False).predict(
                gradio_client.handle_file(str(EXAMPLES / "scene-star.png")), "bundled", "crop", api_name="/explain")
            assert answer["predictions"][0]["label"] == "star"
        sessions = demo.state_holder.session_data.values()
        kept = [s for s in sessions if "value" in s.config_values.get(record, {}).get("props", {})]
        assert len(sessions) >= 3 and len(kept) == 1  # the last call's only (Gradio stores it after the handler)
    finally:
        demo.close()
