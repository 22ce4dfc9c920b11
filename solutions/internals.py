"""Reference solutions of lesson 05_internals.

Generated from source/05_internals/05_internals.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import math

import torch
from torch import Tensor
from tqdm.auto import tqdm


class Dataset:
    """Inputs and targets side by side: ds[i] is (x[i], y[i]); an index or a slice."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        """Keep x (N, ...) and y (N, ...), which must have the same length."""
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} items but y has {len(y)}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        """The number of items, N."""
        return len(self.x)

    def __getitem__(self, i: int | slice) -> tuple[Tensor, Tensor]:
        """(x[i], y[i]): one item for an int, a batch of items for a slice."""
        return self.x[i], self.y[i]


class Sampler:
    """The order in which a DataLoader visits the items 0, ..., n - 1, one epoch per iteration."""

    def __init__(self, n: int, shuffle: bool = False, generator: torch.Generator | None = None) -> None:
        """n items; shuffle draws a new random order for every epoch from `generator` (torch's global one when None)."""
        self.n, self.shuffle, self.generator = n, shuffle, generator

    def __iter__(self):
        """Yield each index in 0..n-1 exactly once (Python ints): in order, or a fresh torch.randperm(n, generator=...)."""
        if self.shuffle:
            yield from torch.randperm(self.n, generator=self.generator).tolist()
        else:
            yield from range(self.n)

    def __len__(self) -> int:
        """n."""
        return self.n


class BatchSampler:
    """Groups a sampler's indices into lists of batch_size (the last one shorter, or dropped with drop_last)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool = False) -> None:
        """Keep the sampler (any iterable of indices with a len) and the options."""
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        """Yield lists of indices, in the sampler's order, iterating the sampler once per epoch."""
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def collate(items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """[(x0, y0), (x1, y1), ...] -> (xb, yb): the inputs stacked along a new dim 0, and the targets."""
    xs, ys = zip(*items)
    return torch.stack(xs), torch.stack(ys)


class DataLoader:
    """Batches of a dataset: a Sampler, a BatchSampler and collate_fn, like torch.utils.data.DataLoader."""

    def __init__(self, dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 collate_fn=collate, generator: torch.Generator | None = None) -> None:
        """Keep the dataset and collate_fn; build self.batch_sampler from a Sampler over len(dataset)."""
        self.dataset, self.collate_fn = dataset, collate_fn
        self.batch_sampler = BatchSampler(Sampler(len(dataset), shuffle, generator), batch_size, drop_last)

    def __iter__(self):
        """Yield collate_fn([dataset[i] for i in batch]) for each batch of indices."""
        for batch in self.batch_sampler:
            yield self.collate_fn([self.dataset[i] for i in batch])

    def __len__(self) -> int:
        """The number of batches per epoch."""
        return len(self.batch_sampler)


class Parameter(torch.Tensor):
    """A tensor marked as trainable: a torch.Tensor (same values) that requires grad."""

    # Given: results of arithmetic on a Parameter are plain tensors, as with nn.Parameter.
    __torch_function__ = torch._C._disabled_torch_function_impl

    def __new__(cls, data: Tensor) -> "Parameter":
        """A Parameter sharing data's values, a leaf with requires_grad=True."""
        return torch.Tensor._make_subclass(cls, data.detach(), True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + repr(self.data)


class Module:
    """The base of models: attributes that are Parameters or Modules are registered when assigned.

    Subclasses call super().__init__() first, then assign their parameters and sub-modules.
    """

    def __init__(self) -> None:
        """Start with no parameters and no sub-modules (in self._parameters and self._modules)."""
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})

    def __setattr__(self, name: str, value) -> None:
        """Set the attribute; register it first if it is a Parameter or a Module."""
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def parameters(self):
        """Yield every registered Parameter, this module's then each sub-module's (recursively), each once."""
        seen = set()

        def walk(module):
            yield from module._parameters.values()
            for sub in module._modules.values():
                yield from walk(sub)

        for p in walk(self):
            if id(p) not in seen:
                seen.add(id(p))
                yield p

    def __call__(self, *args):
        """model(x) is model.forward(x)."""
        return self.forward(*args)

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def zero_grad(self) -> None:
        """Clear the gradient of every parameter (set .grad to None)."""
        for p in self.parameters():
            p.grad = None


class Linear(Module):
    """x @ w + b with w (in_features, out_features) Kaiming normal and b zeros, as Parameters."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.w = Parameter(torch.randn(in_features, out_features) * math.sqrt(2 / in_features))
        self.b = Parameter(torch.zeros(out_features))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.w + self.b


class ReLU(Module):
    """max(x, 0) elementwise; no parameters."""

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp_min(0.0)


class Sequential(Module):
    """Modules applied one after the other: Sequential(a, b, c)(x) is c(b(a(x)))."""

    def __init__(self, *modules: Module) -> None:
        """Register every module (so that parameters() finds theirs) and keep their order."""
        super().__init__()
        self.layers = list(modules)
        for i, module in enumerate(modules):
            setattr(self, f"layer{i}", module)

    def forward(self, x: Tensor) -> Tensor:
        """Each module applied to the previous one's output, starting from x."""
        for module in self.layers:
            x = module(x)
        return x


class SGD:
    """Stochastic gradient descent with momentum and weight decay, the same update as torch.optim.SGD.

    For each parameter p with a gradient: g = p.grad + weight_decay * p; with momentum, a buffer
    per parameter, buf = g on the first step and buf = momentum * buf + g after, and g = buf;
    then p -= lr * g, in place and without recording the update in autograd.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        """Keep the parameters as a list (params may be a generator) and the hyper-parameters."""
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers = [None] * len(self.params)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                g = p.grad
                if self.weight_decay:
                    g = g + self.weight_decay * p
                if self.momentum:
                    if self.buffers[i] is None:
                        self.buffers[i] = g.clone()
                    else:
                        self.buffers[i].mul_(self.momentum).add_(g)
                    g = self.buffers[i]
                p.sub_(self.lr * g)

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (set .grad to None)."""
        for p in self.params:
            p.grad = None


def fit(model, loss_fn, opt, train_dl, valid_dl, epochs: int) -> list[dict[str, float]]:
    """Train for `epochs` epochs; after each, evaluate on valid_dl without gradients.

    Returns one dict per epoch: {"train_loss", "valid_loss", "valid_accuracy"}, Python floats,
    each the mean over *samples* (a batch's mean loss weighted by its size), so a short last
    batch counts for what it holds. The training loss is the mean of the batch losses as they
    were computed during the epoch. Shows a progress bar (tqdm) over the batches.
    """
    history = []
    for epoch in range(epochs):
        total, count = 0.0, 0
        for xb, yb in tqdm(train_dl, desc=f"epoch {epoch + 1}/{epochs}", leave=False):
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += loss.item() * len(xb)
            count += len(xb)
        valid_total, correct, valid_count = 0.0, 0, 0
        with torch.no_grad():
            for xb, yb in valid_dl:
                pred = model(xb)
                valid_total += loss_fn(pred, yb).item() * len(xb)
                correct += (pred.argmax(dim=-1) == yb).sum().item()
                valid_count += len(xb)
        history.append({"train_loss": total / count, "valid_loss": valid_total / valid_count,
                        "valid_accuracy": correct / valid_count})
    return history
