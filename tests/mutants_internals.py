"""Realistic wrong answers to lesson 05_internals, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import contextlib

import torch

from mutants_matmul import Mutant
from solutions import internals as ref


class DatasetSliceAsPairs(ref.Dataset):
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [(self.x[j], self.y[j]) for j in range(*i.indices(len(self)))]
        return self.x[i], self.y[i]


class SamplerWithReplacement(ref.Sampler):
    def __iter__(self):
        if self.shuffle:
            yield from torch.randint(0, self.n, (self.n,), generator=self.generator).tolist()
        else:
            yield from range(self.n)


class SamplerShufflesOnce(ref.Sampler):
    def __init__(self, n, shuffle=False, generator=None):
        super().__init__(n, shuffle, generator)
        self.order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))

    def __iter__(self):
        yield from self.order


class BatchSamplerDropLastInverted(ref.BatchSampler):
    def __iter__(self):
        yield from ref.BatchSampler(self.sampler, self.batch_size, not self.drop_last)


def collate_cat(items):
    xs, ys = zip(*items)
    return torch.cat(xs), torch.stack(ys)


class DataLoaderReshufflesEveryBatch(ref.DataLoader):
    def __iter__(self):
        for k in range(len(self)):
            batch = list(self.batch_sampler)[k]  # a new pass over the sampler for every batch
            yield self.collate_fn([self.dataset[i] for i in batch])


class ParameterNotTrainable(torch.Tensor):
    __torch_function__ = torch._C._disabled_torch_function_impl

    def __new__(cls, data):
        return torch.Tensor._make_subclass(cls, data.detach(), False)


class ModuleListsTwice(ref.Module):
    def parameters(self):
        yield from self._parameters.values()
        for sub in self._modules.values():
            yield from sub.parameters()
        yield from self._parameters.values()


class SequentialDropsTheInput(ref.Module):
    def __init__(self, *modules):
        super().__init__()
        self.layers = list(modules)
        for i, module in enumerate(modules):
            setattr(self, f"layer{i}", module)

    def forward(self, x):
        out = x
        for module in self.layers:
            out = module(x)  # each module gets x, not the previous output
        return out


class SGDIgnoresLr(ref.SGD):
    def step(self):
        lr, self.lr = self.lr, 1.0
        try:
            super().step()
        finally:
            self.lr = lr


class SGDForgetsMomentum(ref.SGD):
    def step(self):
        self.buffers = [None] * len(self.params)
        super().step()


class SGDWeightDecaySign(ref.SGD):
    def step(self):
        wd, self.weight_decay = self.weight_decay, -self.weight_decay
        try:
            super().step()
        finally:
            self.weight_decay = wd


def _fit(model, loss_fn, opt, train_dl, valid_dl, epochs, weighted_accuracy=True, weighted_train=True,
         no_grad=True, item=True):
    history = []
    for _ in range(epochs):
        losses, sizes = [], []
        for xb, yb in train_dl:
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item() if item else loss.detach())
            sizes.append(len(xb))
        v_losses, accs, v_sizes = [], [], []
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            for xb, yb in valid_dl:
                pred = model(xb)
                v_losses.append(loss_fn(pred, yb).item())
                accs.append((pred.argmax(-1) == yb).float().mean().item())
                v_sizes.append(len(xb))

        def weighted(values, counts):
            return sum(v * n for v, n in zip(values, counts)) / sum(counts)

        history.append({
            "train_loss": weighted(losses, sizes) if weighted_train else sum(losses) / len(losses),
            "valid_loss": weighted(v_losses, v_sizes),
            "valid_accuracy": weighted(accs, v_sizes) if weighted_accuracy else sum(accs) / len(accs)})
    return history


def fit_accuracy_per_batch(*args):
    return _fit(*args, weighted_accuracy=False)


def fit_train_loss_per_batch(*args):
    return _fit(*args, weighted_train=False)


def fit_without_zero_grad(model, loss_fn, opt, train_dl, valid_dl, epochs):
    class KeepGrads:
        def step(self):
            opt.step()

        def zero_grad(self):
            pass
    return _fit(model, loss_fn, KeepGrads(), train_dl, valid_dl, epochs)


def fit_validates_with_gradients(*args):
    return _fit(*args, no_grad=False)


def fit_returns_tensors(*args):
    return _fit(*args, item=False)


class SGDWithoutNoGrad(ref.SGD):
    def step(self):
        for p in self.params:
            if p.grad is not None:
                p -= self.lr * p.grad


class SGDKeepsTheGenerator(ref.SGD):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__([], lr, momentum, weight_decay)
        self.params = params  # model.parameters() is a generator: used up by the first loop over it

    def step(self):
        self.buffers = self.buffers or {}
        with torch.no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                g = p.grad + self.weight_decay * p
                if self.momentum:
                    buf = self.buffers.get(id(p))
                    self.buffers[id(p)] = g.clone() if buf is None else buf.mul_(self.momentum).add_(g)
                    g = self.buffers[id(p)]
                p.sub_(self.lr * g)


class DatasetWithoutLengthCheck(ref.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y


def collate_float_labels(items):
    xb, yb = ref.collate(items)
    return xb, yb.float()


class SGDZeroesGradients(ref.SGD):
    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()


MUTANTS = (
    Mutant("Dataset slice as a list of pairs", "Dataset", DatasetSliceAsPairs, "not a list of pairs"),
    Mutant("sampler that repeats indices", "Sampler", SamplerWithReplacement, "repeats"),
    Mutant("sampler shuffled once in __init__", "Sampler", SamplerShufflesOnce, "same order every epoch"),
    Mutant("drop_last inverted", "BatchSampler", BatchSamplerDropLastInverted, "drop_last=True drops a short last batch"),
    Mutant("Dataset accepts mismatched lengths", "Dataset", DatasetWithoutLengthCheck, "raise ValueError when x and y"),
    Mutant("collate turns labels into floats", "collate", collate_float_labels, "class labels stay int64"),
    Mutant("collate with torch.cat", "collate", collate_cat, "torch.cat joins along an existing one"),
    Mutant("DataLoader reshuffles for every batch", "DataLoader", DataLoaderReshufflesEveryBatch,
           "Did the sampler reshuffle inside an epoch?"),
    Mutant("Parameter without requires_grad", "Parameter", ParameterNotTrainable, "requires_grad is False"),
    Mutant("parameters listed twice", "Module", ModuleListsTwice, "twice"),
    Mutant("Sequential drops the input", "Sequential", SequentialDropsTheInput, "starting from x"),
    Mutant("optimizer ignores its lr", "SGD", SGDIgnoresLr, "the learning rate is not used"),
    Mutant("momentum buffer not kept", "SGD", SGDForgetsMomentum, "momentum buffer is not kept"),
    Mutant("SGD without no_grad", "SGD", SGDWithoutNoGrad, "inside `with torch.no_grad():`"),
    Mutant("SGD keeps the params generator", "SGD", SGDKeepsTheGenerator, "self.params = list(params)"),
    Mutant("zero_grad zeroes in place", "SGD", SGDZeroesGradients, "the contract is .grad = None"),
    Mutant("weight decay with the wrong sign", "SGD", SGDWeightDecaySign, "weight decay has the wrong sign"),
    Mutant("accuracy averaged over batches", "fit", fit_accuracy_per_batch, "weight each by its batch size"),
    Mutant("training loss averaged over batches", "fit", fit_train_loss_per_batch, "weight each by its batch size"),
    Mutant("fit validates without no_grad", "fit", fit_validates_with_gradients, "`with torch.no_grad():`"),
    Mutant("fit returns tensors for floats", "fit", fit_returns_tensors, "the records hold Python floats"),
    Mutant("fit never clears gradients", "fit", fit_without_zero_grad, "opt.zero_grad()"),
)
