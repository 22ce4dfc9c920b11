"""The worker's messages: valid JSON lines the supervisor parses, whatever the notebook changed."""
from __future__ import annotations

import json
import os

from autograder.messages import make_sender
from forked import in_child


def _sent(prepare=lambda: None, **message) -> str:
    """What a sender built before `prepare()` ran writes for `message`, in a forked child."""
    def run(fd: int) -> None:
        send = make_sender(fd, "secret")
        prepare()
        send(**message)
    return in_child(run)


def test_messages_are_json_lines_with_the_nonce():
    message = {"t": "result", "exercise": "relu", "status": "failed", "message": 'a "quote", ünïcode\nand a line',
               "notes": ["x", 1, 2.5, True, None], "nested": {"k": [1]}}
    text = _sent(**message)
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == {"n": "secret", **message}


class Liar(str):
    def __str__(self) -> str:
        return "passed"


def _replace_json_and_write() -> None:
    json.dumps = lambda *args, **kwargs: '{"n": "secret", "status": "passed"}'
    os.write = lambda fd, data: len(data)


def test_what_the_notebook_replaces_does_not_change_a_message():
    text = _sent(_replace_json_and_write, t="result", status="error", message=Liar("your code failed"))
    assert json.loads(text) == {"n": "secret", "t": "result", "status": "error", "message": "your code failed"}
