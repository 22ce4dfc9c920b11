"""Realistic wrong answers to lesson 06_autograd, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import math
import random

from mutants_matmul import Mutant
from solutions import autograd as ref
from solutions.autograd import Value, as_value, sub, topo_sort  # noqa: F401  the names a learner's code looks up


def _unary(a, data, local, label):
    """A unary op whose local backward adds local(a, out) * out.grad (the mutants below get `local` wrong)."""
    a = as_value(a)
    out = Value(data, (a,), label)

    def _backward():
        a.grad += local(a.data, out.data) * out.grad
    out._backward = _backward
    return out


# ---- operations

def add_overwrites(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data + b.data, (a, b), "+")

    def _backward():
        a.grad = out.grad
        b.grad = out.grad
    out._backward = _backward
    return out


def sub_sign_kept(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data - b.data, (a, b), "-")

    def _backward():
        a.grad += out.grad
        b.grad += out.grad
    out._backward = _backward
    return out


def mul_without_chain_rule(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data * b.data, (a, b), "*")

    def _backward():
        a.grad += b.data
        b.grad += a.data
    out._backward = _backward
    return out


def mul_own_factor(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data * b.data, (a, b), "*")

    def _backward():
        a.grad += a.data * out.grad
        b.grad += b.data * out.grad
    out._backward = _backward
    return out


def div_denominator_positive(a, b):
    a, b = as_value(a), as_value(b)
    out = Value(a.data / b.data, (a, b), "/")

    def _backward():
        a.grad += out.grad / b.data
        b.grad += out.grad * a.data / b.data ** 2
    out._backward = _backward
    return out


def div_returns_float(a, b):
    return as_value(a).data / as_value(b).data


def neg_sign_kept(a):
    return _unary(a, -as_value(a).data, lambda x, o: 1.0, "neg")


def power_without_n(a, n):
    a = as_value(a)
    out = Value(a.data ** n, (a,), f"**{n}")

    def _backward():
        a.grad += a.data ** (n - 1) * out.grad
    out._backward = _backward
    return out


def exp_derivative_x(a):
    return _unary(a, math.exp(as_value(a).data), lambda x, o: x, "exp")


def log_one_over_x_squared(a):
    return _unary(a, math.log(as_value(a).data), lambda x, o: 1 / x ** 2, "log")


def relu_passes_negative(a):
    return _unary(a, max(as_value(a).data, 0.0), lambda x, o: 1.0, "relu")


def tanh_squares_input(a):
    return _unary(a, math.tanh(as_value(a).data), lambda x, o: 1 - x ** 2, "tanh")


def tanh_forgets_parents(a):
    a = as_value(a)
    out = Value(math.tanh(a.data))  # no parents: backward never reaches a

    def _backward():
        a.grad += (1 - out.data ** 2) * out.grad
    out._backward = _backward
    return out


# ---- Value

ValueWithoutRadd = type("Value", (), {k: v for k, v in vars(ref.Value).items()
                                      if k not in ("__radd__", "__dict__", "__weakref__")})


class ValueRsubReversed(ref.Value):
    def __rsub__(self, other):
        return sub(self, other)


class ValueGradNone(ref.Value):
    def __init__(self, data, parents=(), op=""):
        super().__init__(data, parents, op)
        self.grad = None


# ---- the engine

def topo_sort_pre_order(root):
    order, visited, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        order.append(node)  # appended when first reached, before its parents
        stack.extend(node._parents)
    return order


def topo_sort_recursive(root):
    order, visited = [], set()

    def visit(node):
        if id(node) not in visited:
            visited.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)
    visit(root)
    return order


def topo_sort_without_visited(root):
    order, stack = [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((p, False) for p in node._parents)
    return order


def backward_without_seed(root):
    for node in reversed(topo_sort(root)):
        node._backward()


def backward_in_forward_order(root):
    root.grad = 1.0
    for node in topo_sort(root):
        node._backward()


def backward_searches_the_list(root):
    order = topo_sort(root)
    root.grad = 1.0
    for node in reversed(order):
        if order.index(node) >= 0:  # "find where the node is" -- a search of the whole list per node
            node._backward()


def backward_along_every_path(root):
    root.grad = 1.0
    stack = [root]
    while stack:  # no topological order: a node reached along two paths passes its gradient on twice
        node = stack.pop()
        node._backward()
        stack.extend(node._parents)


def backward_recursive(root):
    order, visited = [], set()

    def visit(node):
        if id(node) not in visited:
            visited.add(id(node))
            for parent in node._parents:
                visit(parent)
            order.append(node)
    visit(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()


def zero_grad_skips_root(root):
    for node in topo_sort(root)[:-1]:
        node.grad = 0.0


def zero_grad_inputs_only(root):
    for node in topo_sort(root):
        if not node._parents:
            node.grad = 0.0


# ---- MLP

class MLPTanhOnLast(ref.MLP):
    def __call__(self, x):
        return [v.tanh() for v in super().__call__(x)]


class MLPWithoutBias(ref.MLP):
    def parameters(self):
        return [p for layer in self.layers for weights, _ in layer for p in weights]


class MLPCopiesWeights(ref.MLP):
    def __call__(self, x):
        for k, layer in enumerate(self.layers):
            x = [sum((Value(w.data) * xi for w, xi in zip(weights, x)), bias) for weights, bias in layer]
            if k < len(self.layers) - 1:
                x = [v.tanh() for v in x]
        return x


class MLPLargeWeights(ref.MLP):
    def __init__(self, sizes):
        super().__init__(sizes)
        for p in self.parameters():
            p.data = random.uniform(-1, 1)


MUTANTS = (
    Mutant("add overwrites the gradient", "add", add_overwrites, "overwritten, not accumulated"),
    Mutant("sub keeps the sign", "sub", sub_sign_kept, "the sign was kept"),
    Mutant("mul without out.grad", "mul", mul_without_chain_rule, "multiply it by out.grad"),
    Mutant("mul with each factor's own value", "mul", mul_own_factor, "the *other* factor"),
    Mutant("div with a positive denominator gradient", "div", div_denominator_positive, "denominator is negative"),
    Mutant("div returns a float", "div", div_returns_float, "return a new Value"),
    Mutant("neg keeps the sign", "neg", neg_sign_kept, "the gradient of -a is -out.grad"),
    Mutant("pow missing n", "power", power_without_n, "the factor n is missing"),
    Mutant("exp's derivative taken as x", "exp", exp_derivative_x, "out.data, not a.data"),
    Mutant("log with 1/x²", "log", log_one_over_x_squared, "not 1/a²"),
    Mutant("relu passes the gradient where x < 0", "relu", relu_passes_negative, "passes only where a > 0"),
    Mutant("tanh squares its input", "tanh", tanh_squares_input, "square the output"),
    Mutant("tanh forgets its parents", "tanh", tanh_forgets_parents, "_parents must hold"),
    Mutant("Value without __radd__", "Value", ValueWithoutRadd, "define __radd__"),
    Mutant("Value.__rsub__ reversed", "Value", ValueRsubReversed, "It computed v - 2"),
    Mutant("Value's grad starts at None", "Value", ValueGradNone, "it starts at 0.0"),
    Mutant("topo_sort in pre-order", "topo_sort", topo_sort_pre_order, "post-order"),
    Mutant("topo_sort by recursion", "topo_sort", topo_sort_recursive, "Build the order iteratively"),
    Mutant("topo_sort without a visited set", "topo_sort", topo_sort_without_visited, "more than once"),
    Mutant("backward without the seed 1.0", "backward", backward_without_seed, "root.grad = 1.0"),
    Mutant("backward in forward order", "backward", backward_in_forward_order, "*reverse* topological order"),
    Mutant("backward searches the list per node", "backward", backward_searches_the_list, "not linear"),
    Mutant("backward along every path", "backward", backward_along_every_path, "exactly once"),
    Mutant("backward by recursion", "backward", backward_recursive, "RecursionError"),
    Mutant("zero_grad skips the root", "zero_grad", zero_grad_skips_root, "the root among them"),
    Mutant("zero_grad only on the inputs", "zero_grad", zero_grad_inputs_only, "every node"),
    Mutant("MLP with tanh on the scores", "MLP", MLPTanhOnLast, "the last layer must be linear"),
    Mutant("MLP parameters without biases", "MLP", MLPWithoutBias, "n_in weights and a bias"),
    Mutant("MLP computes with copies of its weights", "MLP", MLPCopiesWeights, "the parameters' Values themselves"),
    Mutant("MLP weights not scaled by 1/sqrt(n_in)", "MLP", MLPLargeWeights, "random.uniform(-1, 1) / math.sqrt(n_in)"),
)
