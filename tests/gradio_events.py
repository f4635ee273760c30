"""Calling a Gradio event over HTTP exactly as the page does: join the queue, then read the
answer from the server-sent event stream."""

import json
import uuid

import requests


def find_event(config: dict, elem_id: str) -> tuple[int, int]:
    """(fn_index, trigger id) of the click event of the component with this elem_id."""
    ids = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id]
    assert ids, f"no component with elem_id {elem_id}"
    for dependency in config["dependencies"]:
        if [ids[0], "click"] in dependency["targets"]:
            return dependency["id"], ids[0]
    raise AssertionError(f"no click event on {elem_id}")


def join(session: requests.Session, url: str, elem_id: str, data: list, headers: dict | None = None):
    """POST /gradio_api/queue/join for the event; returns (response, session hash)."""
    config = session.get(url + "/config", timeout=30).json()
    fn_index, trigger_id = find_event(config, elem_id)
    session_hash = uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn_index, "trigger_id": trigger_id, "session_hash": session_hash}
    body["event_data"] = None
    response = session.post(url + "/gradio_api/queue/join", json=body, headers=headers or {}, timeout=30)
    return response, session_hash


def result(session: requests.Session, url: str, session_hash: str) -> list:
    """The output values of the event the session joined."""
    stream = session.get(url + "/gradio_api/queue/data", params={"session_hash": session_hash}, stream=True, timeout=60)
    for line in stream.iter_lines(decode_unicode=True):
        if line and line.startswith("data:"):
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                stream.close()
                assert message.get("success"), message
                return message["output"]["data"]
    raise AssertionError("the event stream ended without a result")
