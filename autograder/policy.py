"""Op policy: which torch (and numpy) operations a learner's function calls, observed at run time."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import numpy.random  # noqa: F401  imported now: its first import checks that np.broadcast is a type
import torch
from torch.overrides import TorchFunctionMode

from autograder.compare import inputs_unchanged
from autograder.results import CheckFailed

# Everything that multiplies matrices for you. Names are the torch functions/methods as the
# function mode sees them (`a @ b` arrives as matmul or __matmul__).
MATMUL_FAMILY = frozenset({
    "matmul", "__matmul__", "__rmatmul__", "__imatmul__", "mm", "bmm", "mv", "dot", "vdot",
    "inner", "tensordot", "einsum", "addmm", "addmm_", "addmv", "addmv_", "addbmm", "baddbmm",
    "addr", "chain_matmul", "multi_dot", "vecdot", "linear", "bilinear",
    "np.dot", "np.matmul", "np.einsum", "np.tensordot", "np.inner", "np.vdot",
})
# torch's own activation functions, which lessons that rebuild activations may not call.
ACTIVATION_FAMILY = frozenset({
    "relu", "relu_", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "rrelu_", "elu", "selu", "celu",
    "gelu", "silu", "hardtanh", "relu6", "threshold", "threshold_",
})
# autograd's entry points, which hand-written backward passes and finite differences may not call
# (`loss.backward()` arrives as backward, torch.autograd.grad as grad).
AUTOGRAD_FAMILY = frozenset({"backward", "grad", "vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"})
# Leaving torch for numpy hides the work from the policy, so it is refused where the policy matters.
NUMPY_ESCAPES = frozenset({"numpy", "__array__"})

_TRIPWIRES: dict[str, tuple[Any, str]] = {
    # Plain-Python functions the function mode cannot see.
    "broadcast_shapes": (torch, "broadcast_shapes"),
    "np.broadcast_shapes": (np, "broadcast_shapes"),
    "np.broadcast": (np, "broadcast"),
    "np.broadcast_to": (np, "broadcast_to"),
    "np.dot": (np, "dot"),
    "np.matmul": (np, "matmul"),
    "np.einsum": (np, "einsum"),
    "np.tensordot": (np, "tensordot"),
    "np.inner": (np, "inner"),
    "np.vdot": (np, "vdot"),
}


class _Recorder(TorchFunctionMode):
    """Records the name of every torch function or Tensor method called inside it."""

    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.calls.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


def _tripwire(name: str, original: Callable, calls: list[str], depth: list[int]) -> Callable:
    """`original`, recording its name when the learner calls it (not when another helper does)."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not depth:
            calls.append(name)
        depth.append(1)
        try:
            return original(*args, **kwargs)
        finally:
            depth.pop()
    return wrapper


@contextmanager
def record_ops() -> Iterator[list[str]]:
    """Yield a list that fills with the names of the torch/numpy ops called inside the block."""
    calls: list[str] = []
    depth: list[int] = []
    with ExitStack() as stack:
        for name, (module, attr) in _TRIPWIRES.items():
            original = getattr(module, attr)
            setattr(module, attr, _tripwire(name, original, calls, depth))
            stack.callback(setattr, module, attr, original)
        with _Recorder(calls):
            yield calls


def forbidden_calls(calls: list[str], forbidden: frozenset[str]) -> list[str]:
    """The distinct forbidden names among `calls`, in order of first use."""
    return list(dict.fromkeys(c for c in calls if c in forbidden))


def torch_name(name: str) -> str:
    """The public spelling of a recorded op name, for messages: leaky_relu -> torch.nn.functional.leaky_relu."""
    import torch.nn.functional as F

    if name.startswith(("np.", "__")):
        return name
    if hasattr(F, name):
        return f"torch.nn.functional.{name}"
    if hasattr(torch, name):
        return f"torch.{name}"
    return f"Tensor.{name}"


def run_under_policy(call: str, run: Callable[[], Any], forbidden: frozenset[str], rule: str,
                     **inputs: torch.Tensor) -> Any:
    """Run learner code: its inputs must keep their values and no op of `forbidden` may be called (an
    error raised after a forbidden call is reported as the call, which is the real mistake)."""
    with record_ops() as calls:
        try:
            with inputs_unchanged(call, **inputs):
                out = run()
        except (NotImplementedError, CheckFailed):
            raise
        except Exception:
            if not forbidden_calls(calls, forbidden):
                raise
            out = None
    used = forbidden_calls(calls, forbidden)
    if used:
        names = " and ".join(f"`{u}`" for u in used)
        raise CheckFailed(f"{call} calls {names}, which this exercise does not allow: {rule}")
    return out
