"""An exercise: a name, its points, and the check that grades a learner's answer to it."""
from __future__ import annotations

import functools
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

from autograder.devices import resolve_device
from autograder.references import reference
from autograder.results import CheckFailed, NotAttempted

Check = Callable[..., None]
# Set in nbgrader's autograde kernel: the hidden tests there leave the verdict to the isolated grader.
KERNEL_VERDICT_ENV = "AUTOGRADER_KERNEL_VERDICT"


@dataclass(frozen=True)
class Exercise:
    """One graded unit of a lesson; `name` is what the learner defines and the nbgrader grade_id."""

    name: str
    points: float
    check: Check
    time_budget_s: float = 120.0


def fresh_generator(seed: int | None = None) -> tuple[torch.Generator, int]:
    """A generator with a fresh random seed, or the given one (returned, so a failure can be replayed)."""
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen, seed


def check(name: str) -> Callable[[Callable[..., None]], Check]:
    """Make `body(fn, device, gen)` a public check `check_<name>(fn, device=None, seed=None)`.

    The wrapper is the same in nbgrader's hidden tests and in the CLI/pytest route: it resolves
    the device, silences warnings (stderr output would zero an nbgrader test cell), restores the
    global torch state the learner's code may change, turns a stub's NotImplementedError into
    NotAttempted and names the seed of the random inputs in any failure.
    """
    def decorate(body: Callable[..., None]) -> Check:
        @functools.wraps(body)
        def run(fn: Any, device: str | torch.device | None = None, seed: int | None = None) -> None:
            if os.environ.get(KERNEL_VERDICT_ENV) == "isolated":
                print(f"{name}: graded by the isolated grader")
                return
            dev = resolve_device(device)
            if not callable(fn):
                raise CheckFailed(f"{name} should be a function, but it is a {type(fn).__name__}.")
            gen, seed = fresh_generator(seed)
            default_dtype, grad_enabled = torch.get_default_dtype(), torch.is_grad_enabled()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    body(fn, dev, gen)
            except NotImplementedError as err:
                raise NotAttempted(f"{name} is not attempted yet (it raises NotImplementedError).") from err
            except CheckFailed as err:
                raise CheckFailed(f"{err} [replay these inputs in your notebook: {replay_call(body, name, dev, seed)}]"
                                  ) from None
            finally:
                torch.set_default_dtype(default_dtype)
                torch.set_grad_enabled(grad_enabled)
        run.__name__ = run.__qualname__ = f"check_{name}"
        return run
    return decorate


def replay_call(body: Callable[..., None], name: str, device: torch.device, seed: int) -> str:
    """A line a learner can paste into a notebook cell to run a check again on the same inputs."""
    return (f"from {body.__module__} import check_{name}; "
            f"check_{name}({name}, device={device.type!r}, seed={seed})")


def randn(*shape: int, gen: torch.Generator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Standard-normal inputs from `gen`, made on the CPU (reproducible everywhere) then moved."""
    return torch.randn(*shape, generator=gen, dtype=dtype).to(device)


@contextmanager
def references_for(fn: Any, module: str, *names: str) -> Iterator[None]:
    """Swap the reference definitions from solutions/<module>.py in for the learner's helpers that
    `fn` (a function or a class) calls by name, so that each exercise is graded on its own: a wrong
    helper costs points only in its own exercise. The learner's definitions are back afterwards."""
    code = fn.__init__ if isinstance(fn, type) else fn
    namespace = getattr(code, "__globals__", None)
    saved = {n: namespace[n] for n in names if namespace is not None and n in namespace}
    for n in saved:
        namespace[n] = reference(module, n)
    try:
        yield
    finally:
        if namespace is not None:
            namespace.update(saved)
