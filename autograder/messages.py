"""The worker's messages to the supervisor: JSON lines signed with the supervisor's nonce.

`make_sender` is called before the notebook's code runs. The function it returns holds the nonce,
the descriptor and every function it calls (its own small JSON encoder over the C string quoting
json uses), so a notebook that replaces `json.dumps`, `os.write`, a str subclass's `__str__` or an
enum's `value` cannot change what a message says.
"""
from __future__ import annotations

import json.encoder
import os
from typing import Any, Callable


def make_sender(fd: int, nonce: str) -> Callable[..., None]:
    """`send(**message)`: one JSON line to the supervisor, `{"n": nonce, **message}`."""
    quote = json.encoder.c_encode_basestring_ascii or json.encoder.py_encode_basestring_ascii
    write, type_, isinstance_, repr_ = os.write, type, isinstance, repr
    str_, int_, float_, bool_, list_, tuple_, dict_ = str, int, float, bool, list, tuple, dict
    as_str, int_repr, float_repr, join = str.__str__, int.__repr__, float.__repr__, ", ".join

    def encode(value: Any) -> str:
        kind = type_(value)
        if value is None:
            return "null"
        if kind is bool_:
            return "true" if value else "false"
        if isinstance_(value, str_):
            return quote(as_str(value))  # a str subclass's own __str__ is not called
        if kind is int_:
            return int_repr(value)
        if kind is float_:
            return float_repr(value)
        if kind is list_ or kind is tuple_:
            return "[" + join([encode(v) for v in value]) + "]"
        if kind is dict_:
            return "{" + join([quote(as_str(k)) + ": " + encode(v) for k, v in value.items()
                               if isinstance_(k, str_)]) + "}"
        return quote(as_str(repr_(value)))

    def send(**message: Any) -> None:
        data = (encode({"n": nonce, **message}) + "\n").encode()
        while data:
            data = data[write(fd, data):]
    return send
