"""Hidden checks of lesson 04_backward: hand-written gradients in `.g`, against torch.autograd."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from autograder.checks import reference_helpers
from autograder.compare import expect_close, expect_tensor, inputs_unchanged, is_close, product_scale, worst_difference
from autograder.data import load_mnist
from autograder.exercise import Exercise, check, randn, reference
from autograder.policy import AUTOGRAD_FAMILY, forbidden_calls, record_ops
from autograder.results import CheckFailed

# The truth for a ReLU is torch.relu, whose gradient at exactly 0 is 0 (clamp_min's is 1), as in
# this lesson's (inp > 0) mask; float32 randn does produce exact zeros, and every ReLU input here
# holds some on purpose, so that a mask (inp >= 0) is met where it differs.

# (N, in, out): a few rows, one row, a square layer (where a transposed weight gradient has the
# right shape), and non-square layers; then a full float32 batch of MNIST's size.
SMALL_LAYERS = ((4, 3, 5), (1, 7, 2), (6, 4, 4), (3, 1, 6))
FULL_BATCH = (1000, 784, 50)
# gradient_check must agree with autograd to this relative error in float64 (the bound;
# the reference's centred differences give about 1e-10, one-sided ones about 1e-6).
GRADCHECK_MAX_ERROR = 1e-7


def _reference(name: str) -> Any:
    return reference("backward", name)


def _run(call: str, run: Callable[[], Any], **inputs: torch.Tensor) -> Any:
    """Run learner code: inputs must keep their values, autograd must not be called, and a .g read
    before it is set gets a message about the order of the backward pass."""
    with inputs_unchanged(call, **inputs), record_ops() as calls:
        try:
            out = run()
        except AttributeError as err:
            if forbidden_calls(calls, AUTOGRAD_FAMILY) or "'g'" not in str(err):
                raise
            raise CheckFailed(f"{call} read a .g that was not set ({err}): each backward step reads the .g "
                              "of its output, which the step after it (in the forward order) sets first.") from None
        except RuntimeError:
            if not forbidden_calls(calls, AUTOGRAD_FAMILY):
                raise
            out = None
    used = forbidden_calls(calls, AUTOGRAD_FAMILY)
    if used:
        raise CheckFailed(f"{call} calls {', '.join(used)}: this lesson computes gradients by hand, without autograd "
                          "(.backward(), torch.autograd.grad).")
    return out


def _autograd(forward: Callable[..., torch.Tensor], tensors: dict[str, torch.Tensor],
              upstream: torch.Tensor | None = None, in_float64: bool = True) -> dict[str, torch.Tensor]:
    """The true gradients: autograd on clones of `tensors` (in float64 unless told otherwise), cast
    back to their dtypes."""
    leaves = {k: (t.detach().double() if in_float64 else t.detach().clone()).requires_grad_() for k, t in tensors.items()}
    with torch.enable_grad():
        out = forward(**leaves)
        out.backward(None if upstream is None else upstream.to(out.dtype))
    return {k: leaves[k].grad.to(tensors[k].dtype) for k in tensors}


def _grad_of(t: Any, what: str, call: str) -> torch.Tensor:
    g = getattr(t, "g", None)
    if g is None:
        raise CheckFailed(f"{call} did not set {what}.g: store the gradient as an attribute, `{what}.g = ...`.")
    return g


def _expect_grad(t: Any, what: str, expected: torch.Tensor, call: str, scale: float = 0.0,
                 hints: tuple[tuple[torch.Tensor, str], ...] = (), shape_hints: dict[tuple, str] | None = None) -> None:
    """t.g against autograd's gradient: shape (with the mistakes each wrong shape points to), dtype, values."""
    g = _grad_of(t, what, call)
    shape = tuple(getattr(g, "shape", ()))
    if isinstance(g, torch.Tensor) and shape != tuple(expected.shape):
        hint = (shape_hints or {}).get(shape, "")
        raise CheckFailed(f"{call}: {what}.g has shape {shape}, but {what} has shape {tuple(expected.shape)} "
                          f"and its gradient must too.{' ' + hint if hint else ''}")
    expect_tensor(g, name=what, dtype=expected.dtype, device=expected.device, shape=tuple(expected.shape),
                  call=f"{call}: {what}.g")
    if is_close(g, expected, scale):
        return
    for variant, hint in hints:
        if variant.shape == g.shape and is_close(g, variant.to(g.dtype), scale):
            raise CheckFailed(f"{call}: {what}.g is wrong: {hint}")
    raise CheckFailed(f"{call}: {what}.g differs from autograd's gradient: {worst_difference(g, expected)}.")


def _layer_cases(gen: torch.Generator, device: torch.device) -> Iterator[tuple[torch.Tensor, ...]]:
    """(inp, w, b, upstream, shown): small float64 layers, then a full float32 batch."""
    for n, k, m in SMALL_LAYERS:
        inp, w, b, up = (randn(*s, gen=gen, dtype=torch.float64, device=device) for s in ((n, k), (k, m), (m,), (n, m)))
        yield inp, w, b, up, f"inp: {(n, k)}, w: {(k, m)}, b: {(m,)} float64"
    n, k, m = FULL_BATCH
    inp, w, b, up = (randn(*s, gen=gen, dtype=torch.float32, device=device) for s in ((n, k), (k, m), (m,), (n, m)))
    yield inp, w * math.sqrt(2 / k), b, up / n, f"inp: {(n, k)}, w: {(k, m)}, b: {(m,)} float32"


def _expect_linear_grads(inp: torch.Tensor, w: torch.Tensor, b: torch.Tensor, up: torch.Tensor, call: str) -> None:
    """inp.g, w.g, b.g against autograd for out = inp @ w + b with out.g = up."""
    truth = _autograd(lambda inp, w, b: inp @ w + b, {"inp": inp, "w": w, "b": b}, up)
    (n, k), m = inp.shape, w.shape[1]
    _expect_grad(inp, "inp", truth["inp"], call, product_scale(up, w.T), shape_hints={
        (n, m): "inp.g = out.g @ w.T: (N, out) @ (out, in) gives (N, in)."},
        hints=((up @ w if k == m else up, "multiply by w.T, not w: inp.g = out.g @ w.T."),))
    _expect_grad(w, "w", truth["w"], call, product_scale(inp.T, up), shape_hints={
        (m, k): "it is transposed: w.g = inp.T @ out.g, (in, N) @ (N, out) gives (in, out)."},
        hints=((truth["w"].T, "it is transposed: w.g = inp.T @ out.g, not out.g.T @ inp."),
               (truth["w"] / n, "w.g must not be divided by N: the loss's gradient already holds the mean's 1/N.")))
    _expect_grad(b, "b", truth["b"], call, float(up.abs().sum(0).max()), shape_hints={
        (n, m): "did you forget to sum over the batch? Every example adds the same b: b.g = out.g.sum(0)."},
        hints=((up.mean(0), "it averages over the batch; sum instead: b.g = out.g.sum(0)."),))


@check("mse_grad")
def check_mse_grad(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """pred.g = 2 (pred - target) / N with pred's shape, against autograd of the mean squared error."""
    for dtype in (torch.float64, torch.float32):
        for n, pred_shape in ((5, (5, 1)), (1, (1, 1)), (8, (8,)), (1000, (1000, 1))):
            pred = randn(*pred_shape, gen=gen, dtype=dtype, device=device)
            target = randn(n, gen=gen, dtype=dtype, device=device)
            call = f"mse_grad(pred: {pred_shape}, target: {(n,)}) {dtype}"
            returned = _run(call, lambda: fn(pred, target), pred=pred, target=target)
            if returned is not None:
                raise CheckFailed(f"{call} returned {type(returned).__name__}; it sets pred.g and returns None: the "
                                  "backward pass hands gradients on through .g, where the next step reads them.")
            truth = _autograd(lambda pred: ((pred.reshape(-1) - target.double().reshape(-1)) ** 2).mean(), {"pred": pred})
            diff = pred - target.reshape(pred.shape)
            _expect_grad(pred, "pred", truth["pred"], call, shape_hints={
                (n, n): "pred (N, 1) - target (N,) broadcasts to (N, N): reshape target to pred's shape first."},
                hints=((diff, "the 2/N is missing: the mean of N squares has gradient 2 (pred - target) / N."),
                       (diff / n, "the factor 2 from the square is missing: 2 (pred - target) / N."),
                       (2 * diff, "the 1/N of the mean is missing: 2 (pred - target) / N."),
                       (-2 * diff / n, "the sign is flipped: the gradient is 2 (pred - target) / N, not (target - pred).")))


_AT_ZERO = ("the mask is inp >= 0, which lets the gradient through where inp is exactly 0: ReLU's gradient there "
            "is 0 (as torch.relu's), so mask with inp > 0.")


def _with_zeros(inp: torch.Tensor) -> torch.Tensor:
    """inp with its first entries set to exact zeros (+0.0 and -0.0), where ReLU's kink is."""
    inp.view(-1)[: min(3, inp.numel())] = torch.tensor([0.0, -0.0, 0.0], dtype=inp.dtype)[: min(3, inp.numel())]
    return inp


@check("relu_grad")
def check_relu_grad(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """inp.g = out.g where inp > 0, else 0, against autograd of relu."""
    for dtype in (torch.float64, torch.float32):
        for shape in ((4, 6), (1, 3), (1000, 50)):
            inp = _with_zeros(randn(*shape, gen=gen, dtype=dtype, device=device))
            out, up = inp.clamp_min(0), randn(*shape, gen=gen, dtype=dtype, device=device)
            out.g = up
            call = f"relu_grad(inp: {shape} with some exact zeros, out) {dtype}"
            _run(call, lambda: fn(inp, out), inp=inp, out=out)
            truth = _autograd(lambda inp: torch.relu(inp), {"inp": inp}, up)
            _expect_grad(inp, "inp", truth["inp"], call, hints=(
                (up, "it ignores ReLU's mask: the gradient passes only where inp > 0 and is 0 elsewhere."),
                (up * (inp < 0), "the mask is inverted: the gradient passes where inp > 0."),
                (up * (inp >= 0), _AT_ZERO),
                (out, "it copies the ReLU's output; multiply out.g by the mask (inp > 0)."),
                ((inp > 0).to(dtype), "it is the mask alone; multiply it by out.g (chain rule).")))


@check("lin_grad")
def check_lin_grad(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """inp.g, w.g, b.g for out = inp @ w + b against autograd, square and non-square, one row, a full batch."""
    for inp, w, b, up, shown in _layer_cases(gen, device):
        out = inp @ w + b
        out.g = up
        call = f"lin_grad({shown})"
        _run(call, lambda: fn(inp, out, w, b), inp=inp, w=w, b=b, out=out)
        _expect_linear_grads(inp, w, b, up, call)


@check("Layer")
def check_Layer(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """__call__ stores self.args (the tuple of arguments) and self.out, runs forward and returns its result."""
    if not isinstance(cls, type):
        raise CheckFailed(f"Layer should be a class, but it is a {type(cls).__name__}.")

    class Square(cls):  # type: ignore[misc, valid-type]
        def forward(self, x):
            return x * x

    class Add(cls):  # type: ignore[misc, valid-type]
        def forward(self, a, b):
            return a + b

    for shape in ((3, 4), (1, 5)):
        x = randn(*shape, gen=gen, dtype=torch.float64, device=device)
        layer = Square()
        out = _run("Square()(x)", lambda: layer(x), x=x)
        expect_close(out, x * x, "Layer", f"Square()(x: {shape}), Square being a Layer with forward x * x")
        args = getattr(layer, "args", None)
        if not isinstance(args, tuple):
            raise CheckFailed(f"after layer(x), layer.args is {type(args).__name__}; store the arguments as the "
                              "tuple they arrive in (def __call__(self, *args): self.args = args).")
        if len(args) != 1 or args[0] is not x:
            raise CheckFailed("after layer(x), layer.args must be (x,), holding x itself (not a copy): backward sets "
                              "x.g on that very tensor.")
        if getattr(layer, "out", None) is not out:
            raise CheckFailed("after out = layer(x), layer.out must be out itself: the next layer sets out.g on the "
                              "tensor it received, and this layer's backward reads it from self.out.")
    a, b = (randn(2, 3, gen=gen, dtype=torch.float64, device=device) for _ in range(2))
    add = Add()
    out = _run("Add()(a, b)", lambda: add(a, b), a=a, b=b)
    expect_close(out, a + b, "Layer", "Add()(a, b), Add being a Layer with forward a + b")
    if not (isinstance(add.args, tuple) and len(add.args) == 2 and add.args[0] is a and add.args[1] is b):
        raise CheckFailed("after layer(a, b), layer.args must be the tuple (a, b): store every argument.")
    again = add(b, b)
    if add.args[0] is not b or add.out is not again:
        raise CheckFailed("a second call must replace layer.args and layer.out with the new ones.")
    for method, args in (("forward", (a,)), ("backward", ())):
        try:
            getattr(cls(), method)(*args)
        except NotImplementedError:
            continue
        raise CheckFailed(f"Layer().{method}(...) should raise NotImplementedError: each subclass defines its own.")


def _layer_backward(layer: Any, args: tuple[torch.Tensor, ...], up: torch.Tensor | None, call: str,
                    **inputs: torch.Tensor) -> torch.Tensor:
    """forward, then backward as Layer.__call__ would set it up (args and out stored, out.g set)."""
    out = _run(f"{call}.forward", lambda: layer.forward(*args), **inputs)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{call}.forward returned {type(out).__name__}, not a tensor.")
    layer.args, layer.out = args, out
    out.g = torch.ones((), dtype=out.dtype, device=out.device) if up is None else up
    _run(f"{call}.backward()", layer.backward, **inputs)
    return out


@check("Linear")
def check_Linear(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Linear(w, b): forward inp @ w + b, backward sets inp.g, w.g, b.g as autograd does; graded with the
    reference lin_grad, should backward call it."""
    with reference_helpers(cls, "backward", "lin_grad"):
        for inp, w, b, up, shown in _layer_cases(gen, device):
            call = f"Linear(w, b) with {shown}"
            layer = cls(w, b)
            if getattr(layer, "w", None) is not w or getattr(layer, "b", None) is not b:
                raise CheckFailed(f"{call}: keep the tensors given as self.w and self.b (the same objects, not copies): "
                                  "backward sets self.w.g and self.b.g on them.")
            out = _layer_backward(layer, (inp,), up, call, inp=inp, w=w, b=b)
            expect_close(out, inp @ w + b, "Linear", f"{call}: forward", scale=product_scale(inp, w) + float(b.abs().max()))
            _expect_linear_grads(inp, w, b, up, call)


@check("ReLU")
def check_ReLU(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """ReLU(): forward max(inp, 0), backward inp.g = out.g where inp > 0 (0 at 0); graded with the reference
    relu_grad, should backward call it."""
    with reference_helpers(cls, "backward", "relu_grad"):
        for dtype in (torch.float64, torch.float32):
            for shape in ((4, 6), (1000, 50)):
                inp, up = (randn(*shape, gen=gen, dtype=dtype, device=device) for _ in range(2))
                inp = _with_zeros(inp)
                call = f"ReLU() with inp: {shape} {dtype}, some entries exactly 0"
                out = _layer_backward(cls(), (inp,), up, call, inp=inp)
                expect_close(out, inp.clamp_min(0), "ReLU", f"{call}: forward")
                truth = _autograd(lambda inp: torch.relu(inp), {"inp": inp}, up)
                _expect_grad(inp, "inp", truth["inp"], call, hints=(
                    (up, "it ignores ReLU's mask: the gradient passes only where inp > 0 and is 0 elsewhere."),
                    (up * (inp >= 0), _AT_ZERO),
                    ((inp > 0).to(dtype), "it is the mask alone; multiply it by self.out.g (chain rule).")))


@check("MSE")
def check_MSE(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """MSE(): forward the mean squared error, backward pred.g = 2 (pred - target) / N; graded with the
    reference mse_grad, should backward call it."""
    with reference_helpers(cls, "backward", "mse_grad"):
        for dtype in (torch.float64, torch.float32):
            for n, pred_shape in ((6, (6, 1)), (1, (1, 1)), (9, (9,)), (1000, (1000, 1))):
                pred, target = randn(*pred_shape, gen=gen, dtype=dtype, device=device), randn(n, gen=gen, dtype=dtype, device=device)
                call = f"MSE() with pred: {pred_shape}, target: {(n,)} {dtype}"
                out = _layer_backward(cls(), (pred, target), None, call, pred=pred, target=target)
                expect_close(out, F.mse_loss(pred.reshape(-1), target), "MSE", f"{call}: forward")
                truth = _autograd(lambda pred: ((pred.reshape(-1) - target.double()) ** 2).mean(), {"pred": pred})
                diff = pred - target.reshape(pred.shape)
                _expect_grad(pred, "pred", truth["pred"], call, shape_hints={
                    (n, n): "pred (N, 1) - target (N,) broadcasts to (N, N): reshape target to pred's shape first."},
                    hints=((diff, "the 2/N is missing: the mean of N squares has gradient 2 (pred - target) / N."),
                           (2 * diff, "the 1/N of the mean is missing: 2 (pred - target) / N."),
                           (diff / n, "the factor 2 from the square is missing: 2 (pred - target) / N.")))


def _logit_cases(gen: torch.Generator, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor, str]]:
    for dtype in (torch.float64, torch.float32):
        for n, c in ((8, 10), (1, 3), (1000, 10)):
            logits = randn(n, c, gen=gen, dtype=dtype, device=device) * 3
            yield logits, torch.randint(0, c, (n,), generator=gen).to(device), f"logits: {(n, c)} {dtype}"
    big = randn(3, 5, gen=gen, dtype=torch.float64, device=device) + torch.tensor([[1000.0], [-1000.0], [0.0]], dtype=torch.float64, device=device)
    yield big, torch.randint(0, 5, (3,), generator=gen).to(device), "logits: rows around +1000, -1000 and 0"


@check("CrossEntropy")
def check_CrossEntropy(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """CrossEntropy(): forward = F.cross_entropy (stable), backward logits.g = (softmax - one_hot) / N."""
    for logits, target, shown in _logit_cases(gen, device):
        call = f"CrossEntropy() with {shown}"
        out = _layer_backward(cls(), (logits, target), None, call, logits=logits, target=target)
        expect_close(out, F.cross_entropy(logits.double(), target).to(logits.dtype), "CrossEntropy",
                     f"{call}: forward", scale=float(logits.abs().max()))
        truth = _autograd(lambda logits: F.cross_entropy(logits, target), {"logits": logits})
        n = logits.shape[0]
        one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        softmax = truth["logits"] * n + one_hot
        if not torch.isfinite(_grad_of(logits, "logits", call)).all():
            raise CheckFailed(f"{call}: logits.g has inf or nan: compute the softmax stably (subtract each row's max).")
        _expect_grad(logits, "logits", truth["logits"], call, hints=(
            (softmax - one_hot, "the 1/N of the mean is missing: (softmax - one_hot) / N."),
            ((one_hot - softmax) / n, "the sign is flipped: (softmax - one_hot) / N."),
            (softmax / n, "the one-hot term is missing: subtract 1 at each row's target, (softmax - one_hot) / N.")),
            shape_hints={(n,): "the gradient has one entry per logit: (N, C)."})


def _mnist_batch(gen: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n real digits drawn with gen, normalised; and their labels."""
    x, y = load_mnist()
    pick = torch.randperm(len(x), generator=gen)[:n]
    x = x[pick]
    return (x - x.mean()) / x.std(), y[pick]


@check("Model")
def check_Model(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Model(sizes): layers, Kaiming weights; loss = F.cross_entropy of the logits; backward sets every .g.

    Graded with the reference Linear, ReLU, CrossEntropy and MSE, so that a mistake in a layer
    costs points only in that layer's exercise.
    """
    with reference_helpers(cls, "backward", "Linear", "ReLU", "CrossEntropy", "MSE"):
        for sizes, dtype in (([5, 7, 3, 4], torch.float64), ([6, 2], torch.float64), ([784, 50, 10], torch.float32)):
            model = cls(sizes)
            layers = getattr(model, "layers", None)
            if not isinstance(layers, list):
                raise CheckFailed(f"Model({sizes}) needs a `layers` list of its Linear and ReLU layers.")
            kinds = [type(layer).__name__ for layer in layers]
            expected = ["Linear", "ReLU"] * (len(sizes) - 2) + ["Linear"]
            if kinds != expected:
                raise CheckFailed(f"Model({sizes}).layers is {kinds}; expected {expected} (no ReLU after the last Linear).")
            linears = [layer for layer in layers if type(layer).__name__ == "Linear"]
            shapes = [(tuple(layer.w.shape), tuple(layer.b.shape)) for layer in linears]
            if shapes != [((i, o), (o,)) for i, o in zip(sizes[:-1], sizes[1:])]:
                raise CheckFailed(f"Model({sizes}) has Linear (w, b) shapes {shapes}; layer i maps sizes[i] to sizes[i + 1].")
            if dtype == torch.float64:
                for layer in linears:
                    layer.w = randn(*layer.w.shape, gen=gen, dtype=dtype, device=device)
                    layer.b = randn(*layer.b.shape, gen=gen, dtype=dtype, device=device)
                n = 6
                x = randn(n, sizes[0], gen=gen, dtype=dtype, device=device)
                target = torch.randint(0, sizes[-1], (n,), generator=gen).to(device)
            else:
                std = float(linears[0].w.std())
                if abs(std - math.sqrt(2 / 784)) > 0.05 * math.sqrt(2 / 784) or linears[0].b.abs().max() != 0:
                    raise CheckFailed(f"Model({sizes}): the first Linear's w has std {std:.4g} (Kaiming: √(2/784) = "
                                      f"{math.sqrt(2 / 784):.4g}) or a nonzero b; draw w with randn * √(2/in), b zeros.")
                x, target = _mnist_batch(gen, FULL_BATCH[0])
                x, target = x.to(device), target.to(device)
                for layer in linears:
                    layer.w, layer.b = layer.w.to(device), layer.b.to(device)
            params = {f"w{i}": layer.w for i, layer in enumerate(linears)} | {f"b{i}": layer.b for i, layer in enumerate(linears)}

            def truth_forward(x, **p):
                h = x
                for i in range(len(linears)):
                    h = h @ p[f"w{i}"] + p[f"b{i}"]
                    if i < len(linears) - 1:
                        h = torch.relu(h)
                return F.cross_entropy(h, target)

            call = f"Model({sizes}) on x: {tuple(x.shape)} {dtype}"
            loss = _run(f"{call}: loss(x, target)", lambda: model.loss(x, target), x=x, **params)
            with torch.no_grad():
                expected_loss = truth_forward(x.double(), **{k: v.double() for k, v in params.items()}).to(dtype)
            expect_close(loss, expected_loss, "Model", f"{call}: loss(x, target)", scale=1.0)
            logits = _run(f"{call}: forward(x)", lambda: model.forward(x), x=x, **params)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(x), sizes[-1]):
                raise CheckFailed(f"{call}: forward(x) should return the ({len(x)}, {sizes[-1]}) logits.")
            model.loss(x, target)
            _run(f"{call}: backward()", model.backward, x=x, **params)
            # In float32 autograd runs in float32 too, on the same forward ops: a float64 forward could
            # put a pre-activation within rounding of 0 on the other side of the ReLU's kink.
            truth = _autograd(truth_forward, {"x": x, **params}, in_float64=dtype == torch.float64)
            for i, layer in enumerate(linears):
                _expect_grad(layer.w, f"layers[{2 * i}].w", truth[f"w{i}"], call)
                _expect_grad(layer.b, f"layers[{2 * i}].b", truth[f"b{i}"], call)
            _expect_grad(x, "x", truth["x"], call, hints=((torch.zeros_like(x), "x.g is zero: the first Linear's backward must set inp.g too."),))


@check("relative_error")
def check_relative_error(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """||a - b|| / (||a|| + ||b||) as a float: 0 for equal, 1 for opposite, scale-invariant, 0 for zeros."""
    def value(a: torch.Tensor, b: torch.Tensor, call: str) -> float:
        out = _run(call, lambda: fn(a, b), a=a, b=b)
        if isinstance(out, torch.Tensor):
            what = "a 0-d tensor" if out.dim() == 0 else f"a tensor of shape {tuple(out.shape)}"
            raise CheckFailed(f"{call} returned {what}; return a Python float, as the docstring says: convert the "
                              "result with .item() (or float(...)).")
        if isinstance(out, bool) or not isinstance(out, (int, float)):
            raise CheckFailed(f"{call} returned {type(out).__name__}; return a Python float (float(...) or .item()).")
        if math.isnan(out):
            raise CheckFailed(f"{call} returned nan: when both norms are 0 the tensors are equal, so return 0.0.")
        return float(out)

    for shape in ((10,), (4, 5), (1, 1)):
        a, b = (randn(*shape, gen=gen, dtype=torch.float64, device=device) for _ in range(2))
        b = a + 0.1 * b
        call = f"relative_error(a: {shape}, b)"
        got, expected = value(a, b, call), _reference("relative_error")(a, b)
        if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-15):
            absolute = float((a - b).norm())
            if math.isclose(got, absolute, rel_tol=1e-9):
                raise CheckFailed(f"{call} is {got:.6g}, the absolute error ||a - b||; divide by ||a|| + ||b|| "
                                  "so that it does not depend on how large the gradients are.")
            raise CheckFailed(f"{call} is {got:.6g}; ||a - b|| / (||a|| + ||b||) is {expected:.6g}.")
        for what, a2, b2, want in (("a, a", a, a.clone(), 0.0), ("a, -a", a, -a, 1.0),
                                   ("1e6 a, 1e6 b", a * 1e6, b * 1e6, expected), ("1e-6 a, 1e-6 b", a * 1e-6, b * 1e-6, expected)):
            got = value(a2, b2, f"relative_error({what})")
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15):
                raise CheckFailed(f"relative_error({what}) is {got:.6g}; expected {want:.6g}"
                                  + (": scaling both gradients must not change it." if "e" in what else "."))
    zeros = torch.zeros(3, 4, dtype=torch.float64, device=device)
    if value(zeros, zeros.clone(), "relative_error(zeros, zeros)") != 0.0:
        raise CheckFailed("relative_error(zeros, zeros) should be 0.0: the tensors are equal.")


def _net_loss(x: torch.Tensor, target: torch.Tensor, w2: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A small ReLU network's cross-entropy, as a function of its first weight matrix."""
    return lambda w1: F.cross_entropy((x @ w1).clamp_min(0) @ w2, target)


@check("gradient_check")
def check_gradient_check(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Centred finite differences, without autograd, within 1e-7 of autograd in float64; x left unchanged."""
    rel = _reference("relative_error")
    x_net, w2 = randn(6, 4, gen=gen, dtype=torch.float64, device=device), randn(5, 3, gen=gen, dtype=torch.float64, device=device)
    target = torch.randint(0, 3, (6,), generator=gen).to(device)
    cases = (("f(t) = (t.sin() * t).sum() + (t ** 3).mean()", lambda t: (t.sin() * t).sum() + (t ** 3).mean(), (3, 4)),
             ("a ReLU network's loss as a function of its (4, 5) weights", _net_loss(x_net, target, w2), (4, 5)),
             ("f(t) = (t * t).sum() on one number", lambda t: (t * t).sum(), (1,)))
    for shown, f, shape in cases:
        x = randn(*shape, gen=gen, dtype=torch.float64, device=device)
        call = f"gradient_check(f, x: {shape}, eps=1e-6) for {shown}"
        numeric = _run(call, lambda: fn(f, x, 1e-6), x=x)
        leaf = x.clone().requires_grad_()
        with torch.enable_grad():
            f(leaf).backward()
        truth = leaf.grad
        expect_tensor(numeric, name="gradient_check", dtype=x.dtype, device=x.device, shape=shape, call=call)
        error = rel(numeric, truth)
        if error > GRADCHECK_MAX_ERROR:
            one_sided = torch.zeros_like(x).reshape(-1)
            with torch.no_grad():
                base = float(f(x))
                for i in range(x.numel()):
                    step = x.clone().reshape(-1)
                    step[i] += 1e-6
                    one_sided[i] = (float(f(step.reshape(shape))) - base) / 1e-6
            if rel(numeric, one_sided.reshape(shape)) < 1e-3 * error:
                raise CheckFailed(f"{call} uses a one-sided difference (f(x + h) - f(x)) / h: its error is O(h), "
                                  f"here {error:.1e}; the centred (f(x + h) - f(x - h)) / 2h is O(h²).")
            if rel(numeric * 2, truth) < GRADCHECK_MAX_ERROR:
                raise CheckFailed(f"{call} is half the gradient: divide f(x + h) - f(x - h) by 2h, not 4h.")
            if rel(numeric / 2, truth) < GRADCHECK_MAX_ERROR:
                raise CheckFailed(f"{call} is twice the gradient: divide f(x + h) - f(x - h) by 2h, not h.")
            raise CheckFailed(f"{call} differs from autograd's gradient by a relative error of {error:.2g} "
                              f"(allowed: {GRADCHECK_MAX_ERROR:g}): {worst_difference(numeric, truth)}.")
    # Finite differences are the referee: they must tell the ReLU's gradient from one without its mask.
    f = _net_loss(x_net, target, w2)
    w1 = randn(4, 5, gen=gen, dtype=torch.float64, device=device)
    numeric = _run("gradient_check(f, w1, eps=1e-6)", lambda: fn(f, w1, 1e-6), w1=w1)
    with torch.no_grad():
        h = x_net @ w1
        probs = (F.softmax(h.clamp_min(0) @ w2, dim=-1) - F.one_hot(target, 3).double()) / len(x_net)
        unmasked = x_net.T @ (probs @ w2.T)
    if rel(numeric, unmasked) < 1e-3:
        raise CheckFailed("gradient_check agrees with a wrong gradient (a ReLU without its mask): it cannot referee.")


EXERCISES = (
    Exercise("mse_grad", 2, check_mse_grad),
    Exercise("relu_grad", 1, check_relu_grad),
    Exercise("lin_grad", 3, check_lin_grad),
    Exercise("Layer", 1, check_Layer),
    Exercise("Linear", 3, check_Linear),
    Exercise("ReLU", 1, check_ReLU),
    Exercise("MSE", 2, check_MSE),
    Exercise("CrossEntropy", 3, check_CrossEntropy),
    Exercise("Model", 3, check_Model),
    Exercise("relative_error", 1, check_relative_error),
    Exercise("gradient_check", 2, check_gradient_check),
)
