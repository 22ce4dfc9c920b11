"""Hidden checks, one module per lesson; each module lists its EXERCISES."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from autograder.exercise import reference


def _globals_of(fn: Any) -> dict[str, Any] | None:
    """The global namespace `fn` looks names up in: a function's, or that of any method a class defines."""
    if not isinstance(fn, type):
        return getattr(fn, "__globals__", None)
    for attr in vars(fn).values():
        found = getattr(getattr(attr, "__func__", attr), "__globals__", None)
        if isinstance(found, dict):
            return found
    return None


@contextmanager
def reference_helpers(fn: Any, module: str, *names: str) -> Iterator[None]:
    """Run `fn` (a function or a class) with the reference definitions of the other exercises it may
    call by name, so that a wrong, renamed or deleted helper costs points only in its own exercise.

    Unlike exercise.references_for this also finds the namespace of a class without an __init__ of
    its own, and puts in a helper that is missing (renamed or deleted) for the duration of the check;
    the learner's namespace is exactly as it was afterwards.
    """
    namespace = _globals_of(fn)
    if namespace is None:
        yield
        return
    missing = object()
    saved = {n: namespace.get(n, missing) for n in names}
    for n in names:
        namespace[n] = reference(module, n)
    try:
        yield
    finally:
        for n, value in saved.items():
            if value is missing:
                namespace.pop(n, None)
            else:
                namespace[n] = value
