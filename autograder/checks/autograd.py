"""Hidden checks of lesson 06_autograd: a scalar reverse-mode engine, against torch.autograd and finite differences.

Each check builds graphs of the reference `Value` with the reference operations, putting in the
learner's function only where its exercise is, so that a mistake costs points once. The truth is
the same expression in float64 tensors differentiated by torch.autograd; central finite
differences of the learner's own forward referee a disagreement (they tell a wrong forward from a
wrong backward).
"""
from __future__ import annotations

import gc
import math
import random
import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch

from autograder.checks import _globals_of, reference_helpers
from autograder.exercise import Exercise, check, reference
from autograder.results import CheckFailed

OPS = ("add", "sub", "mul", "div", "neg", "power", "exp", "log", "relu", "tanh")
BINARY = ("add", "sub", "mul", "div")
ENGINE = ("topo_sort", "backward", "zero_grad")
# Python floats are float64, like the truth: the two agree to rounding, which a chain of a few
# hundred operations grows to about 1e-13 relative; 1e-9 leaves room and catches any mistake (O(1)).
RTOL, ATOL = 1e-9, 1e-9
RANDOM_EXPRESSIONS = 200        # checked against torch.autograd per run of check_backward
EXPRESSIONS_PER_OP = 30         # random expressions around each operation in its own check
CHAIN_DEPTH = 3000              # deeper than Python's default recursion limit of 1,000
# backward timed on graphs of SMALL and 8×SMALL nodes, next to the reference: a single pass grows as
# the reference does (relative growth about 1), a pass that re-walks the graph per node 8× more
# (64× for 8× the nodes; 5× measured for a list search per node). The bound is 2.5 (see README for the measured range).
TIMING_SMALL, TIMING_FACTOR, TIMING_ROUNDS, MAX_RELATIVE_GROWTH = 1000, 8, 3, 2.5

TORCH_OPS: dict[str, Callable[..., Any]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "neg": lambda a: -a, "power": lambda a, n: a ** n, "exp": torch.exp, "log": torch.log, "relu": torch.relu,
    "tanh": torch.tanh,
}


def _ref(name: str) -> Any:
    return reference("autograd", name)


def _rng(gen: torch.Generator) -> random.Random:
    """A Python random generator seeded from the check's torch generator (so a seed replays it)."""
    return random.Random(int(torch.randint(0, 2 ** 31, (1,), generator=gen)))


def _leaf(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isfinite(a) and abs(a - b) <= ATOL * max(1.0, scale) + RTOL * abs(b)


def _torch_grads(root: torch.Tensor, leaves: list[torch.Tensor]) -> list[float]:
    root.backward()
    return [0.0 if t.grad is None else t.grad.item() for t in leaves]


def _ops(**learner: Callable) -> dict[str, Callable]:
    """The reference operations, with the learner's where given."""
    return {name: learner.get(name) or _ref(name) for name in OPS}


def _is_value(out: Any) -> bool:
    return isinstance(out, _ref("Value"))


# ---------------------------------------------------------------- random expressions

class Expression:
    """One random expression built twice, as Values (with `ops`) and as float64 tensors (the truth)."""

    def __init__(self, rng: random.Random, ops: dict[str, Callable], size: int, focus: str | None = None) -> None:
        value = _ref("Value")
        self.inputs = [rng.uniform(-1.5, 1.5) for _ in range(rng.randint(1, 3))]
        self.leaves = [value(x) for x in self.inputs]
        self.tensor_leaves = [_leaf(x) for x in self.inputs]
        nodes, tensors, used = list(self.leaves), list(self.tensor_leaves), [False] * len(self.inputs)
        self.steps: list[str] = []
        for _ in range(size):
            name = focus if focus and rng.random() < 0.5 else rng.choice(OPS)
            made = _random_step(rng, name, ops, nodes, tensors, used)
            if made is not None:
                self.steps.append(made)
        # The output: the sum of every node nothing else used (so no part of the graph dangles).
        sinks = [i for i in range(len(nodes)) if not used[i]]
        root, troot = nodes[sinks[0]], tensors[sinks[0]]
        for i in sinks[1:]:
            root, troot = ops["add"](root, nodes[i]), troot + tensors[i]
        self.root, self.troot = root, troot

    def describe(self) -> str:
        shown = ", ".join(self.steps[:12]) + (", ..." if len(self.steps) > 12 else "")
        return f"a random expression of {len(self.steps)} operations on inputs {[round(x, 4) for x in self.inputs]} ({shown})"


def _pick(rng: random.Random, tensors: list[torch.Tensor], ok: Callable[[float], bool]) -> int | None:
    """A node index whose true value satisfies `ok`, preferring recent nodes (deep graphs), or None."""
    for _ in range(6):
        i = len(tensors) - 1 - min(int(rng.expovariate(0.4)), len(tensors) - 1) if rng.random() < 0.7 \
            else rng.randrange(len(tensors))
        if ok(tensors[i].item()):
            return i
    return None


def _random_step(rng: random.Random, name: str, ops: dict[str, Callable], nodes: list, tensors: list,
                 used: list[bool]) -> str | None:
    """Apply op `name` to random operands (nodes, reused nodes or numbers) in both worlds; return its label."""
    domain = {"div": lambda v: abs(v) > 0.3, "log": lambda v: v > 0.2, "exp": lambda v: abs(v) < 3,
              "relu": lambda v: abs(v) > 1e-3}
    if name in BINARY:
        ok = domain.get(name, lambda v: True)
        i = _pick(rng, tensors, lambda v: True)
        j = i if i is not None and rng.random() < 0.15 and ok(tensors[i].item()) else _pick(rng, tensors, ok)
        if i is None or j is None:
            return None
        a, ta, b, tb = nodes[i], tensors[i], nodes[j], tensors[j]
        label = f"{name}(n{i}, n{j})"
        if rng.random() < 0.2:  # a number on one side: v + 2, 2 - v
            c = rng.choice((-2.0, -0.5, 0.5, 1.5, 3.0))
            if rng.random() < 0.5 or (name == "div" and abs(tb.item()) <= 0.3):
                b, tb, label, j = c, c, f"{name}(n{i}, {c})", None
            else:
                a, ta, label, i = c, c, f"{name}({c}, n{j})", None
        out, tout = ops[name](a, b), TORCH_OPS[name](ta, tb)
        operands = [k for k in (i, j) if k is not None]
    elif name == "power":
        n = rng.choice((2, 3, -1, 0.5, 1.5, -2))
        ok = (lambda v: 0.2 < v < 3) if not float(n).is_integer() else (lambda v: 0.3 < abs(v) < 3)
        i = _pick(rng, tensors, ok)
        if i is None:
            return None
        out, tout, label, operands = ops[name](nodes[i], n), TORCH_OPS[name](tensors[i], n), f"power(n{i}, {n})", [i]
    else:
        i = _pick(rng, tensors, domain.get(name, lambda v: True))
        if i is None:
            return None
        out, tout, label, operands = ops[name](nodes[i]), TORCH_OPS[name](tensors[i]), f"{name}(n{i})", [i]
    if not (math.isfinite(tout.item()) and abs(tout.item()) < 50):
        return None  # keep values moderate: the node is dropped (it is in neither graph's output)
    for k in operands:
        used[k] = True
    nodes.append(out)
    tensors.append(tout)
    used.append(False)
    return label


def _expect_expression(expr: Expression, call: str, run_backward: Callable[[Any], None]) -> None:
    """The expression's value and its inputs' gradients against torch.autograd."""
    got = getattr(expr.root, "data", None)
    want = expr.troot.item()
    if not isinstance(got, float) or not _close(got, want, abs(want)):
        raise CheckFailed(f"{call}: {expr.describe()} has the value {got!r}; torch computes {want:.12g}: "
                          "the forward value (out.data) is wrong.")
    run_backward(expr.root)
    truth = _torch_grads(expr.troot, expr.tensor_leaves)
    scale = max([abs(t) for t in truth] + [1.0])
    for k, (leaf, want) in enumerate(zip(expr.leaves, truth)):
        if not _close(leaf.grad, want, scale):
            raise CheckFailed(f"{call}: {expr.describe()}: the gradient of input {k} is {leaf.grad!r}; "
                              f"torch.autograd gives {want:.12g}.")


# ---------------------------------------------------------------- the operations

def _central_difference(f: Callable[[float], float], x: float, h: float = 1e-6) -> float:
    return (f(x + h) - f(x - h)) / (2 * h)


# The local derivative each operation must add to its parents' grad, and the usual mistakes:
# (parent's grad formula from a, b, c = out.grad, what it means).
_LOCAL: dict[str, Callable[..., tuple[float, ...]]] = {
    "add": lambda a, b: (1.0, 1.0), "sub": lambda a, b: (1.0, -1.0), "mul": lambda a, b: (b, a),
    "div": lambda a, b: (1 / b, -a / b ** 2), "neg": lambda a: (-1.0,), "power": lambda a, n: (n * a ** (n - 1),),
    "exp": lambda a: (math.exp(a),), "log": lambda a: (1 / a,), "relu": lambda a: (1.0 if a > 0 else 0.0,),
    "tanh": lambda a: (1 - math.tanh(a) ** 2,),
}
_HINTS: dict[str, list[tuple[Callable[..., tuple[float, ...]], str]]] = {
    "sub": [(lambda a, b: (1.0, 1.0), "the gradient of a - b with respect to b is -out.grad (d(a - b)/db = -1): "
             "subtract it, b.grad -= out.grad; the sign was kept.")],
    "mul": [(lambda a, b: (a, b), "each factor's gradient is the *other* factor times out.grad: "
             "a.grad += b.data * out.grad, b.grad += a.data * out.grad.")],
    "div": [(lambda a, b: (1 / b, a / b ** 2), "the gradient with respect to the denominator is negative: "
             "d(a/b)/db = -a/b²."),
            (lambda a, b: (1 / b, -1 / b ** 2), "d(a/b)/db = -a/b²: the factor a is missing."),
            (lambda a, b: (1 / b, -a / b), "d(a/b)/db = -a/b²: b is squared.")],
    "neg": [(lambda a: (1.0,), "the gradient of -a is -out.grad: a.grad -= out.grad.")],
    "power": [(lambda a, n: (a ** (n - 1),), "the factor n is missing: d(aⁿ)/da = n·a^(n−1)."),
              (lambda a, n: (n * a ** n,), "the exponent is n − 1: d(aⁿ)/da = n·a^(n−1), not n·aⁿ."),
              (lambda a, n: ((n - 1) * a ** (n - 1),), "d(aⁿ)/da = n·a^(n−1): the factor is n, not n − 1.")],
    "exp": [(lambda a: (a,), "d(eᵃ)/da = eᵃ, which is out.data, not a.data."),
            (lambda a: (1.0,), "d(eᵃ)/da = eᵃ (out.data): exp is its own derivative.")],
    "log": [(lambda a: (1 / a ** 2,), "d(ln a)/da = 1/a, not 1/a²."),
            (lambda a: (-1 / a ** 2,), "d(ln a)/da = 1/a; -1/a² is the derivative of 1/a."),
            (lambda a: (a,), "d(ln a)/da = 1/a: divide out.grad by a.data.")],
    "relu": [(lambda a: (1.0,), "the gradient passes only where a > 0; where a < 0 relu is flat and passes 0."),
             (lambda a: (0.0 if a > 0 else 1.0,), "the mask is inverted: the gradient passes where a > 0.")],
    "tanh": [(lambda a: (1 - a ** 2,), "d(tanh a)/da = 1 − tanh(a)²: square the output t = tanh(a), not the input."),
             (lambda a: (1 - math.tanh(a),), "d(tanh a)/da = 1 − tanh(a)²: the square is missing.")],
}


def _op_points(rng: random.Random, name: str) -> list[tuple[float, ...]]:
    """Arguments for the operation's local tests: both signs where allowed, away from kinks and poles."""
    def mag(lo: float = 0.4, hi: float = 1.8) -> float:
        return rng.uniform(lo, hi)
    if name in ("add", "sub", "mul"):
        return [(mag(), -mag()), (-mag(), mag()), (mag(), mag())]
    if name == "div":
        return [(mag(), mag()), (-mag(), mag()), (mag(), -mag())]
    if name == "power":
        return [(mag(), 3), (-mag(), 2), (mag(), 0.5), (mag(), -1), (mag(), 1.5)]
    if name == "log":
        return [(mag(0.3, 0.9),), (mag(1.2, 3.0),)]
    return [(mag(),), (-mag(),), (mag(0.1, 0.5),)]


def _describe(name: str, args: tuple) -> str:
    shown = ", ".join(f"{a:.4g}" for a in args)
    return f"{name}({shown})"


def _call_op(fn: Callable, name: str, args: tuple) -> tuple[Any, list[Any]]:
    """fn on Value arguments (the exponent of power stays a number); returns the output and the parents."""
    value = _ref("Value")
    parents = [value(a) for a in (args[:1] if name == "power" else args)]
    out = fn(*parents, *(args[1:] if name == "power" else ()))
    call = _describe(name, args)
    if not _is_value(out):
        raise CheckFailed(f"{call} returned {type(out).__name__}; return a new Value, "
                          "out = Value(data, (parents...), label), with out._backward set.")
    return out, parents


def _check_op(name: str, fn: Callable, gen: torch.Generator) -> None:
    rng = _rng(gen)
    local = _LOCAL[name]
    for args in _op_points(rng, name):
        call = _describe(name, args)
        targs = [_leaf(a) for a in (args[:1] if name == "power" else args)]
        want = TORCH_OPS[name](*targs, *(args[1:] if name == "power" else ()))
        out, parents = _call_op(fn, name, args)
        if not _close(out.data, want.item(), abs(want.item())):
            raise CheckFailed(f"{call} has data {out.data!r}; expected {want.item():.12g}.")
        reached = {id(n) for n in _reachable(out)}
        if any(id(p) not in reached for p in parents):
            raise CheckFailed(f"{call}: the output's _parents must hold the Value(s) it was computed from (got "
                              f"{getattr(out, '_parents', None)!r}): backward orders the graph by walking through them.")
        # The local backward, through the graph: the parents' grads already hold 0.75 (accumulate!) and the
        # output's gradient is 2.5 (root = out · 2.5, with the reference mul and backward).
        for p in parents:
            p.grad = 0.75
        _ref("backward")(_ref("mul")(out, 2.5))
        truth = _torch_grads(want, targs)
        got = [p.grad - 0.75 for p in parents]
        if all(_close(g, 2.5 * t, abs(2.5 * t)) for g, t in zip(got, truth)):
            continue
        if any(g == 0.0 and t != 0.0 for g, t in zip(got, truth)):
            raise CheckFailed(f"{call}: backward never changed a parent's grad: out._backward must add to the "
                              "grad of each parent (a.grad += ... * out.grad).")
        overwritten = [p.grad for p in parents]
        if all(_close(g, 2.5 * t, abs(2.5 * t)) for g, t in zip(overwritten, truth)):
            raise CheckFailed(f"{call}: with out.grad = 2.5 and the parent's grad already 0.75, the parent's grad "
                              f"became {overwritten}, not 0.75 + 2.5·derivative: the gradient is overwritten, not "
                              "accumulated. A node used twice gets a gradient from each use: write "
                              "`a.grad += ...`, never `a.grad = ...`.")
        if all(_close(g, t, abs(t)) for g, t in zip(got, truth)) and name != "add":
            raise CheckFailed(f"{call}: the parent's gradient is the local derivative alone; multiply it by "
                              "out.grad (the chain rule: dL/da = dL/dout · dout/da).")
        for variant, hint in _HINTS.get(name, []):
            wrong = variant(*args)
            if all(_close(g, 2.5 * w, abs(2.5 * w)) for g, w in zip(got, wrong)):
                raise CheckFailed(f"{call}: its local backward is wrong: {hint}")
        referee = ""
        if len(parents) == 1:
            numeric = _central_difference(lambda x: fn(_ref("Value")(x), *args[1:]).data, args[0])
            referee = (f" Finite differences of your forward give {numeric:.8g}, as torch does: the forward is right, "
                       "the _backward is wrong." if math.isclose(numeric, truth[0], rel_tol=1e-5, abs_tol=1e-7) else "")
        raise CheckFailed(f"{call}: with out.grad = 2.5 its _backward added {[round(g, 10) for g in got]} to the "
                          f"parents' grad; d{name}/d(parents) × 2.5 is {[round(2.5 * t, 10) for t in truth]} "
                          f"(local derivative: {[round(v, 10) for v in local(*args)]}).{referee}")
    if name in BINARY:  # a node used twice: add(x, x), mul(x, x), ...
        x0 = rng.uniform(0.5, 1.5)
        x, tx = _ref("Value")(x0), _leaf(x0)
        out = fn(x, x)
        _ref("backward")(out)
        want = _torch_grads(TORCH_OPS[name](tx, tx), [tx])[0]
        if not _close(x.grad, want, abs(want)):
            raise CheckFailed(f"{name}(x, x) at x = {x0:.4g}: x.grad is {x.grad!r}, torch.autograd gives {want:.12g}: "
                              "x is both parents, and each must add its share (`+=`), or one overwrites the other.")
    _check_op_in_graphs(name, fn, rng)


def _check_op_in_graphs(name: str, fn: Callable, rng: random.Random) -> None:
    """The operation inside a deep chain and in random expressions, against torch.autograd."""
    ops, run = _ops(**{name: fn}), _ref("backward")
    # A deep chain: y = squash(op(y, ...)) 200 times; squash keeps y in (0.5, 1.5).
    x0 = rng.uniform(0.6, 1.4)
    y, ty = _ref("Value")(x0), _leaf(x0)
    leaf, tleaf = y, ty
    for k in range(200):
        args = {"power": (2,), "div": (1.3,), "sub": (0.4,), "add": (0.3,), "mul": (1.1,)}.get(name, ())
        if name in BINARY and k % 2:
            y, ty = ops[name](args[0], y) if name != "div" else ops[name](y, args[0]), \
                TORCH_OPS[name](args[0], ty) if name != "div" else TORCH_OPS[name](ty, args[0])
        else:
            y, ty = ops[name](y, *args), TORCH_OPS[name](ty, *args)
        y = ops["add"](ops["mul"](ops["tanh"](y), 0.5), 1.0)
        ty = torch.tanh(ty) * 0.5 + 1.0
    chain = Expression.__new__(Expression)
    chain.inputs, chain.leaves, chain.tensor_leaves, chain.root, chain.troot = [x0], [leaf], [tleaf], y, ty
    chain.steps = [f"200 × ({name}, then tanh(·)·0.5 + 1)"]
    _expect_expression(chain, f"{name} in a chain of 200 steps", run)
    for _ in range(EXPRESSIONS_PER_OP):
        expr = Expression(rng, ops, rng.randint(3, 15), focus=name)
        _expect_expression(expr, f"{name} in {expr.describe()}", run)


def _op_check(name: str) -> Callable:
    def body(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
        with reference_helpers(fn, "autograd", "Value", "as_value", *(o for o in OPS if o != name), *ENGINE):
            _check_op(name, fn, gen)
    body.__doc__ = (f"{name}: forward value, local backward (accumulating, times out.grad), inside deep chains and "
                    "random expressions, against torch.autograd in float64; finite differences referee.")
    body.__name__ = body.__qualname__ = f"check_{name}"
    body.__module__ = __name__
    return check(name)(body)


check_add, check_sub, check_mul, check_div, check_neg, check_power, check_exp, check_log, check_relu, check_tanh = (
    _op_check(name) for name in OPS)


# ---------------------------------------------------------------- Value

@contextmanager
def _names(cls: type, replacements: dict[str, Any]) -> Iterator[None]:
    """The names the methods of a class (and of its bases) look up globally, replaced for the duration of the block."""
    namespaces = {id(ns): ns for klass in cls.__mro__[:-1] for ns in [_globals_of(klass)] if ns is not None}
    missing = object()
    saved = {key: {n: ns.get(n, missing) for n in replacements} for key, ns in namespaces.items()}
    for ns in namespaces.values():
        ns.update(replacements)
    try:
        yield
    finally:
        for key, ns in namespaces.items():
            for n, v in saved[key].items():
                if v is missing:
                    ns.pop(n, None)
                else:
                    ns[n] = v


_OPERATORS: tuple[tuple[str, Callable, Callable, str], ...] = (
    ("v + w", lambda v, w: v + w, lambda a, b: a + b, "__add__"),
    ("v + 2", lambda v, w: v + 2, lambda a, b: a + 2, "__add__, with a number on the right,"),
    ("2 + v", lambda v, w: 2 + v, lambda a, b: 2 + a, "__radd__"),
    ("v - w", lambda v, w: v - w, lambda a, b: a - b, "__sub__"),
    ("v - 2", lambda v, w: v - 2, lambda a, b: a - 2, "__sub__"),
    ("2 - v", lambda v, w: 2 - v, lambda a, b: 2 - a, "__rsub__"),
    ("v * w", lambda v, w: v * w, lambda a, b: a * b, "__mul__"),
    ("3 * v", lambda v, w: 3 * v, lambda a, b: 3 * a, "__rmul__"),
    ("v / w", lambda v, w: v / w, lambda a, b: a / b, "__truediv__"),
    ("v / 2", lambda v, w: v / 2, lambda a, b: a / 2, "__truediv__"),
    ("2 / v", lambda v, w: 2 / v, lambda a, b: 2 / a, "__rtruediv__"),
    ("-v", lambda v, w: -v, lambda a, b: -a, "__neg__"),
    ("v ** 3", lambda v, w: v ** 3, lambda a, b: a ** 3, "__pow__"),
    ("v ** 0.5", lambda v, w: v ** 0.5, lambda a, b: a ** 0.5, "__pow__"),
    ("v.exp()", lambda v, w: v.exp(), lambda a, b: math.exp(a), "exp"),
    ("v.log()", lambda v, w: v.log(), lambda a, b: math.log(a), "log"),
    ("v.relu()", lambda v, w: v.relu(), lambda a, b: max(a, 0.0), "relu"),
    ("(-v).relu()", lambda v, w: (-v).relu(), lambda a, b: max(-a, 0.0), "relu"),
    ("v.tanh()", lambda v, w: v.tanh(), lambda a, b: math.tanh(a), "tanh"),
    ("sum([v, w, v])", lambda v, w: sum([v, w, v]), lambda a, b: 2 * a + b, "__radd__ (sum starts from 0)"),
)


def _probes(cls: type, calls: list[tuple[str, tuple]]) -> dict[str, Callable]:
    """Stand-ins for the operations and the engine that compute plain values (no graph): Value's operators
    are graded on whether they call the right operation with the right operands, in the right order."""
    def data(x: Any) -> float:
        return x.data if isinstance(x, cls) else float(x)

    def probe(name: str, f: Callable) -> Callable:
        def run(*args: Any) -> Any:
            calls.append((name, args))
            return cls(f(*(data(a) if i < (2 if name in BINARY else 1) else a for i, a in enumerate(args))))
        return run

    def engine(name: str) -> Callable:
        def run(*args: Any) -> None:
            calls.append((name, args))
        return run
    fs = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
          "neg": lambda a: -a, "power": lambda a, n: a ** n, "exp": math.exp, "log": math.log,
          "relu": lambda a: max(a, 0.0), "tanh": math.tanh}
    return {name: probe(name, f) for name, f in fs.items()} | {name: engine(name) for name in ("backward", "zero_grad")}


@check("Value")
def check_Value(cls: Any, device: torch.device, gen: torch.Generator) -> None:
    """The node's fields, and every operator (reflected ones included) calling its operation on the right operands."""
    if not isinstance(cls, type):
        raise CheckFailed(f"Value should be a class, but it is a {type(cls).__name__}.")
    rng = _rng(gen)
    for x in (2, rng.uniform(-3, 3)):
        v = cls(x)
        if type(getattr(v, "data", None)) is not float or v.data != float(x):
            raise CheckFailed(f"Value({x!r}).data is {getattr(v, 'data', None)!r}; store the number as a float, "
                              "self.data = float(data).")
        if getattr(v, "grad", None) != 0.0 or type(v.grad) is not float:
            raise CheckFailed(f"a new Value's grad is {getattr(v, 'grad', None)!r}; it starts at 0.0.")
        if tuple(getattr(v, "_parents", (None,))) != ():
            raise CheckFailed(f"Value({x!r})._parents is {getattr(v, '_parents', None)!r}; an input has no parents: ().")
        backward = getattr(v, "_backward", None)
        if not callable(backward) or backward() is not None:
            raise CheckFailed("an input Value's _backward must be a function that does nothing (lambda: None).")
    p, q = cls(1.0), cls(2.0)
    w = cls(3.0, (p, q), "*")
    parents = getattr(w, "_parents", None)
    if not isinstance(parents, tuple) or len(parents) != 2 or parents[0] is not p or parents[1] is not q:
        raise CheckFailed(f"Value(3.0, (p, q), '*')._parents is {parents!r}; keep the parents themselves, as a tuple.")
    if getattr(w, "_op", None) != "*":
        raise CheckFailed(f"Value(3.0, (p, q), '*')._op is {getattr(w, '_op', None)!r}; keep the label as _op.")
    calls: list[tuple[str, tuple]] = []
    with _names(cls, _probes(cls, calls)):
        a, b = rng.uniform(0.5, 2.0), -rng.uniform(0.5, 2.0)
        for shown, apply, expected, method in _OPERATORS:
            v, w = cls(a), cls(b)
            try:
                out = apply(v, w)
            except TypeError as err:
                raise CheckFailed(f"{shown} raised TypeError ({err}): define {method} — when the left operand is a "
                                  "number, Python asks the Value on the right for its reflected operator.") from None
            want = expected(a, b)
            if not isinstance(out, cls) or not math.isclose(out.data, want, rel_tol=1e-12, abs_tol=1e-12):
                got = out.data if isinstance(out, cls) else out
                hint = (f" It computed v {shown[2]} 2: in {method}(self, other), other is the number on the left, "
                        f"so {shown} is {'sub' if '-' in shown else 'div'}(other, self).") if (
                    shown in ("2 - v", "2 / v") and isinstance(out, cls) and
                    math.isclose(out.data, {"2 - v": a - 2, "2 / v": a / 2}[shown], rel_tol=1e-12)) else ""
                raise CheckFailed(f"with v = Value({a:.4g}) and w = Value({b:.4g}), {shown} gave {got!r}; expected a "
                                  f"Value holding {want:.6g} (from {method}).{hint}")
        for method in ("backward", "zero_grad"):
            v = cls(a)
            calls.clear()
            returned = getattr(v, method)()
            if not any(name == method and len(args) == 1 and args[0] is v for name, args in calls):
                raise CheckFailed(f"v.{method}() should call {method}(v), the engine function of the later exercise.")
            if returned is not None:
                raise CheckFailed(f"v.{method}() returned {returned!r}; it returns None.")


# ---------------------------------------------------------------- topo_sort, backward, zero_grad

def _reachable(root: Any) -> list[Any]:
    """Every node root depends on (the check's own walk, with a stack)."""
    seen, stack, out = set(), [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        stack.extend(node._parents)
    return out


def _chain(depth: int) -> tuple[Any, Any]:
    value, tanh = _ref("Value"), _ref("tanh")
    x = value(0.3)
    y = x
    for _ in range(depth):
        y = tanh(y)
    return x, y


def _stacked_diamonds(n: int) -> Any:
    """n diamonds on top of each other: 2ⁿ paths from the root down to the input."""
    mul, add, exp = _ref("mul"), _ref("add"), _ref("exp")
    y = _ref("Value")(0.5)
    for _ in range(n):
        y = add(mul(y, 0.5), exp(mul(y, -0.5)))
    return y


def _expect_order(order: Any, root: Any, call: str) -> None:
    if not isinstance(order, list):
        raise CheckFailed(f"{call} returned {type(order).__name__}; return a list of the nodes.")
    nodes = _reachable(root)
    position: dict[int, int] = {}
    for k, node in enumerate(order):
        if id(node) in position:
            raise CheckFailed(f"{call} lists a node more than once (a node reached along two paths, as in a diamond): "
                              "mark each node visited the first time, and skip it after.")
        position[id(node)] = k
    if len(order) != len(nodes) or any(id(n) not in position for n in nodes):
        raise CheckFailed(f"{call} returned {len(order)} nodes; the graph has {len(nodes)}: list every node the root "
                          "depends on, the inputs and the root included, once each.")
    for node in nodes:
        for parent in node._parents:
            if position[id(parent)] > position[id(node)]:
                raise CheckFailed(f"{call}: a node comes before one of its parents (at {position[id(node)]} and "
                                  f"{position[id(parent)]}). Append a node only after all its parents (post-order); "
                                  "appending it when it is first reached (pre-order) is no topological order.")
    if order[-1] is not root:
        raise CheckFailed(f"{call}: the root must come last.")


def _no_recursion(call: str, run: Callable[[], Any], what: str) -> Any:
    try:
        return run()
    except RecursionError:
        raise CheckFailed(f"{call} raised RecursionError: Python stops a recursion at a depth of about 1,000. "
                          f"{what}") from None


@check("topo_sort")
def check_topo_sort(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Every node once, each after its parents, root last: one node, reuse, diamonds, random graphs, depth 3,000."""
    with reference_helpers(fn, "autograd", "Value", "as_value", *OPS, "backward", "zero_grad"):
        rng, value = _rng(gen), _ref("Value")
        single = value(1.0)
        _expect_order(fn(single), single, "topo_sort(a single input)")
        x = value(1.5)
        square = _ref("mul")(x, x)
        _expect_order(fn(square), square, "topo_sort(mul(x, x)), x used twice")
        top = _stacked_diamonds(12)
        _expect_order(fn(top), top, "topo_sort(12 diamonds stacked, 4,096 paths from the root to the input)")
        for _ in range(20):
            expr = Expression(rng, _ops(), rng.randint(5, 30))
            _expect_order(fn(expr.root), expr.root, f"topo_sort({expr.describe()})")
        _, deep = _chain(CHAIN_DEPTH)
        order = _no_recursion(f"topo_sort(a chain of {CHAIN_DEPTH} tanh)", lambda: fn(deep),
                              "Build the order iteratively, with a list as your own stack.")
        _expect_order(order, deep, f"topo_sort(a chain of {CHAIN_DEPTH} tanh)")


def _count_backward_calls(root: Any) -> dict[int, int]:
    """Wrap every node's _backward so that its calls are counted."""
    counts: dict[int, int] = {}
    for node in _reachable(root):
        inner = node._backward

        def counted(inner: Callable = inner, key: int = id(node)) -> None:
            counts[key] = counts.get(key, 0) + 1
            inner()
        node._backward = counted
        counts[id(node)] = 0
    return counts


def _growth(fn: Callable, rng: random.Random) -> tuple[float, float, float]:
    """How much more time fn's backward takes on a graph TIMING_FACTOR× larger, relative to how much more the
    reference's takes (both timed alternately on fresh graphs, so caches and load weigh on both alike).

    Returns (the learner's growth, the reference's growth, their ratio): about 1 for a single pass.
    """
    def graph(n: int) -> Any:
        value, add, mul, tanh = _ref("Value"), _ref("add"), _ref("mul"), _ref("tanh")
        xs = [value(rng.uniform(-1, 1)) for _ in range(8)]
        y, size = xs[0], 8
        while size < n:  # a long chain that reuses the inputs: 3 nodes per step
            y = add(tanh(mul(y, 0.9)), xs[size % 8])
            size += 3
        return y

    def timed(f: Callable, n: int) -> float:
        # CPU time of this thread: on a loaded machine the wall time of a call that spans several
        # scheduler slices grows faster than its work (measured: 30-40x for 8x the nodes).
        root = graph(n)
        start = time.thread_time()
        f(root)
        return time.thread_time() - start

    sizes = (TIMING_SMALL, TIMING_SMALL * TIMING_FACTOR)
    runners = (("learner", fn), ("reference", _ref("backward")))
    samples: dict[tuple[str, int], list[float]] = {(who, n): [] for who, _ in runners for n in sizes}
    enabled = gc.isenabled()
    gc.disable()  # a collection inside one timed call would weigh on it alone
    try:
        for r in range(TIMING_ROUNDS):
            for who, f in (runners if r % 2 == 0 else runners[::-1]):
                for n in (sizes if r % 2 == 0 else sizes[::-1]):
                    samples[(who, n)].append(timed(f, n))
    finally:
        if enabled:
            gc.enable()
    med = {k: statistics.median(v) for k, v in samples.items()}
    learner = med[("learner", sizes[1])] / med[("learner", sizes[0])]
    reference_growth = med[("reference", sizes[1])] / med[("reference", sizes[0])]
    return learner, reference_growth, learner / reference_growth


@check("backward")
def check_backward(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Seeded with 1.0, each local backward once in reverse topological order, 200 random expressions against
    torch.autograd, depth 3,000, and time linear in the size of the graph."""
    with reference_helpers(fn, "autograd", "Value", "as_value", *OPS, "topo_sort", "zero_grad"):
        rng, ops = _rng(gen), _ops()
        x0 = rng.uniform(0.5, 1.5)
        x = _ref("Value")(x0)
        y = ops["add"](ops["mul"](x, x), x)
        returned = fn(y)
        if returned is not None:
            raise CheckFailed(f"backward(y) returned {returned!r}; it fills in the grads and returns None.")
        if y.grad != 1.0:
            hint = " Seed it: root.grad = 1.0 (dL/dL = 1) before the local backwards run." if y.grad == 0 else ""
            raise CheckFailed(f"after backward(y), y.grad is {y.grad!r}; expected 1.0.{hint}")
        x_grad = x.grad
        # The wrong order is plain on a chain: the input's gradient stays 0.
        x, deep = _chain(50)
        fn(deep)
        want = _chain_grad(0.3, 50)
        if not _close(x.grad, want, abs(want)):
            raise CheckFailed(f"in a chain of 50 tanh, backward gave the input the gradient {x.grad!r}; expected "
                              f"{want:.12g}. Run the local backwards in *reverse* topological order, from the root "
                              "(reversed(topo_sort(root))): a node's _backward needs its grad complete.")
        if not _close(x_grad, 2 * x0 + 1):
            raise CheckFailed(f"y = x * x + x at x = {x0:.4g}: after backward(y), x.grad is {x_grad!r}; "
                              f"expected 2x + 1 = {2 * x0 + 1:.12g}.")
        for k in range(RANDOM_EXPRESSIONS):
            expr = Expression(rng, ops, rng.randint(3, 25))
            counts = _count_backward_calls(expr.root) if k < 20 else {}
            try:
                _expect_expression(expr, f"backward on {expr.describe()}", fn)
            except CheckFailed:
                if all(c == 1 for c in counts.values()):
                    raise
            if any(c != 1 for c in counts.values()):
                worst = max(counts.values())
                raise CheckFailed(f"backward on {expr.describe()} ran a node's _backward {worst} times (and some "
                                  f"{min(counts.values())}): run each node's _backward exactly once, in reverse "
                                  "topological order; a node reached along two paths (a diamond) must not pass its "
                                  "gradient on twice.")
        x, deep = _chain(CHAIN_DEPTH)
        _no_recursion(f"backward(a chain of {CHAIN_DEPTH} tanh)", lambda: fn(deep),
                      "Order the graph with topo_sort (iterative) and loop over it; do not recurse into parents.")
        want = _chain_grad(0.3, CHAIN_DEPTH)
        if not _close(x.grad, want, abs(want)):
            raise CheckFailed(f"in a chain of {CHAIN_DEPTH} tanh, the input's gradient is {x.grad!r}; expected {want:.12g}.")
        learner, reference_growth, relative = _growth(fn, rng)
        if relative > MAX_RELATIVE_GROWTH:
            raise CheckFailed(f"on a graph {TIMING_FACTOR}× larger ({TIMING_SMALL} and {TIMING_SMALL * TIMING_FACTOR} "
                              f"nodes), backward took {learner:.1f}× as long, where a single pass (the reference, timed "
                              f"alongside) took {reference_growth:.1f}× as long: it is not linear in the size of the "
                              "graph. Order the graph once and visit each node once: no topo_sort per node, no search "
                              "of the list (list.index, `in` a list) per node.")


def _chain_grad(x0: float, depth: int) -> float:
    g, y = 1.0, x0
    for _ in range(depth):
        t = math.tanh(y)
        g *= 1 - t * t
        y = t
    return g


@check("zero_grad")
def check_zero_grad(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Every node of the graph, root and inputs included, gets grad 0.0; data unchanged."""
    with reference_helpers(fn, "autograd", "Value", "as_value", *OPS, "topo_sort", "backward"):
        rng = _rng(gen)
        for k in range(10):
            expr = Expression(rng, _ops(), rng.randint(3, 20))
            _ref("backward")(expr.root)
            nodes = _reachable(expr.root)
            data = [n.data for n in nodes]
            returned = fn(expr.root)
            if returned is not None:
                raise CheckFailed(f"zero_grad(root) returned {returned!r}; it sets the grads and returns None.")
            left = [n for n in nodes if n.grad != 0.0]
            if left:
                which = ("the root" if left[0] is expr.root else "an input" if not left[0]._parents else "an inner node")
                raise CheckFailed(f"after zero_grad(root) on {expr.describe()}, {len(left)} of {len(nodes)} nodes still "
                                  f"have a gradient ({which} among them, grad {left[0].grad!r}): set grad = 0.0 on every "
                                  "node topo_sort(root) lists, the root and the inputs included.")
            if [n.data for n in nodes] != data:
                raise CheckFailed("zero_grad changed some node's data: it resets grad only.")
        _, deep = _chain(CHAIN_DEPTH)
        _no_recursion(f"zero_grad(a chain of {CHAIN_DEPTH} tanh)", lambda: fn(deep), "Loop over topo_sort(root).")


# ---------------------------------------------------------------- MLP

Tensors = list[torch.Tensor]


def _torch_mlp(sizes: list[int], params: list[float], x: list[float]) -> tuple[Tensors, Tensors, Tensors, list[Tensors]]:
    """The same network in float64 tensors: its outputs, then leaves of the parameters and of x; and two wrong versions."""
    leaves = [_leaf(p) for p in params]
    xs = [_leaf(v) for v in x]

    def forward(last_tanh: bool, hidden_tanh: bool) -> list[torch.Tensor]:
        h, k = list(xs), 0
        n_layers = len(sizes) - 1
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            out = []
            for _ in range(n_out):
                w, b = leaves[k:k + n_in], leaves[k + n_in]
                k += n_in + 1
                s = b + sum(wi * hi for wi, hi in zip(w, h))
                last = layer == n_layers - 1
                out.append(torch.tanh(s) if (last_tanh if last else hidden_tanh) else s)
            h = out
        return h
    return forward(False, True), leaves, xs, [forward(True, True), forward(False, False)]


@check("MLP")
def check_MLP(cls: Any, device: torch.device, gen: torch.Generator) -> None:
    """Parameters in the documented order and initialization, outputs and every gradient against torch."""
    if not isinstance(cls, type):
        raise CheckFailed(f"MLP should be a class, but it is a {type(cls).__name__}.")
    with reference_helpers(cls, "autograd", "Value", "as_value", *OPS, *ENGINE):
        rng, value = _rng(gen), _ref("Value")
        for sizes in ([2, 3, 1], [3, 4, 4, 2], [1, 1], [20, 30, 2]):
            call = f"MLP({sizes})"
            model = cls(sizes)
            params = model.parameters()
            count = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
            if not isinstance(params, list) or len(params) != count or not all(_is_value(p) for p in params):
                got = len(params) if isinstance(params, list) else type(params).__name__
                raise CheckFailed(f"{call}.parameters() gave {got}; expected a list of {count} Values: every unit has "
                                  "n_in weights and a bias.")
            if len({id(p) for p in params}) != count:
                raise CheckFailed(f"{call}.parameters() lists a Value twice: each weight and bias is its own Value.")
            k = 0
            for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                for _ in range(n_out):
                    w, b = [p.data for p in params[k:k + n_in]], params[k + n_in].data
                    k += n_in + 1
                    if b != 0.0 or any(abs(v) > 1 / math.sqrt(n_in) + 1e-12 for v in w):
                        raise CheckFailed(f"{call}: a unit with {n_in} inputs has weights {[round(v, 4) for v in w]} "
                                          f"and bias {b:.4g}; draw weights with random.uniform(-1, 1) / math.sqrt(n_in) "
                                          "and start biases at 0.0 (and list each unit's weights, then its bias).")
            weights = [p.data for p in params if p.data != 0.0]
            if len(weights) > 2 and len(set(weights)) < len(weights) // 2:
                raise CheckFailed(f"{call}: the weights repeat ({len(set(weights))} distinct of {len(weights)}): draw "
                                  "each at random, or units that start equal stay equal.")
            data = [rng.uniform(-1, 1) for _ in params]
            for p, d in zip(params, data):
                p.data = d
            x = [rng.uniform(-2, 2) for _ in range(sizes[0])]
            inputs = [value(v) for v in x] if sizes == [3, 4, 4, 2] else x
            out = model(inputs)
            truth, leaves, xs, (tanh_last, no_hidden_tanh) = _torch_mlp(sizes, data, x)
            if not isinstance(out, list) or len(out) != sizes[-1] or not all(_is_value(o) for o in out):
                raise CheckFailed(f"{call}(x) returned {out!r}; expected a list of {sizes[-1]} Values.")
            got = [o.data for o in out]
            if not all(_close(g, t.item(), abs(t.item())) for g, t in zip(got, truth)):
                for variant, hint in ((tanh_last, "the last layer must be linear (scores): no tanh after it."),
                                      (no_hidden_tanh, "every layer but the last applies tanh.")):
                    if len(sizes) > 2 or variant is tanh_last:
                        if all(_close(g, t.item(), abs(t.item())) for g, t in zip(got, variant)):
                            raise CheckFailed(f"{call}(x) is wrong: {hint}")
                raise CheckFailed(f"{call}(x) is {[round(g, 8) for g in got]}; expected "
                                  f"{[round(t.item(), 8) for t in truth]} (parameters set through parameters(), in the "
                                  "order: layer by layer, unit by unit, the unit's weights then its bias).")
            coefficients = [rng.uniform(0.5, 1.5) for _ in out]
            loss = out[0] * coefficients[0]
            for o, c in zip(out[1:], coefficients[1:]):
                loss = loss + o * c
            _ref("backward")(loss)
            troot = sum(t * c for t, c in zip(truth, coefficients))
            want = _torch_grads(troot, leaves + xs)
            got_grads = [p.grad for p in params] + ([v.grad for v in inputs] if inputs is not x else [])
            scale = max([abs(w) for w in want] + [1.0])
            for k, (g, w) in enumerate(zip(got_grads, want)):
                if not _close(g, w, scale):
                    what = f"parameter {k}" if k < len(params) else f"input {k - len(params)}"
                    raise CheckFailed(f"{call}: after backward, the gradient of {what} is {g!r}; torch.autograd gives "
                                      f"{w:.12g}. Build the outputs from the parameters' Values themselves (not "
                                      "copies of their data), so that the graph reaches them.")


EXERCISES = (
    Exercise("Value", 2, check_Value),
    Exercise("add", 1, check_add),
    Exercise("sub", 1, check_sub),
    Exercise("mul", 1, check_mul),
    Exercise("div", 1, check_div),
    Exercise("neg", 1, check_neg),
    Exercise("power", 1, check_power),
    Exercise("exp", 1, check_exp),
    Exercise("log", 1, check_log),
    Exercise("relu", 1, check_relu),
    Exercise("tanh", 1, check_tanh),
    Exercise("topo_sort", 2, check_topo_sort),
    Exercise("backward", 3, check_backward),
    Exercise("zero_grad", 1, check_zero_grad),
    Exercise("MLP", 2, check_MLP),
)
