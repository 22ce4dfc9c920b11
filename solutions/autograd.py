"""Reference solutions of lesson 06_autograd.

Generated from source/06_autograd/06_autograd.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import math
import random


class Value:
    """A scalar in a computation graph: its value, its gradient, its parents and its local backward."""

    def __init__(self, data: float, parents: tuple = (), op: str = "") -> None:
        """data as a float; grad 0.0; _parents the tuple of parents; _op the label; _backward does nothing."""
        self.data = float(data)
        self.grad = 0.0
        self._parents = tuple(parents)
        self._op = op
        self._backward = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other):
        """self + other: add(self, other)."""
        return add(self, other)

    def __radd__(self, other):
        """other + self, where other is a number: add(other, self)."""
        return add(other, self)

    def __sub__(self, other):
        """self - other: sub(self, other)."""
        return sub(self, other)

    def __rsub__(self, other):
        """other - self, where other is a number: sub(other, self)."""
        return sub(other, self)

    def __mul__(self, other):
        """self * other: mul(self, other)."""
        return mul(self, other)

    def __rmul__(self, other):
        """other * self, where other is a number: mul(other, self)."""
        return mul(other, self)

    def __truediv__(self, other):
        """self / other: div(self, other)."""
        return div(self, other)

    def __rtruediv__(self, other):
        """other / self, where other is a number: div(other, self)."""
        return div(other, self)

    def __neg__(self):
        """-self: neg(self)."""
        return neg(self)

    def __pow__(self, n: float):
        """self ** n for a number n: power(self, n)."""
        return power(self, n)

    def exp(self):
        """exp(self)."""
        return exp(self)

    def log(self):
        """log(self)."""
        return log(self)

    def relu(self):
        """relu(self)."""
        return relu(self)

    def tanh(self):
        """tanh(self)."""
        return tanh(self)

    def backward(self) -> None:
        """Fill the grad of every node this one was computed from: backward(self)."""
        backward(self)

    def zero_grad(self) -> None:
        """Set the grad of this node and of every node it was computed from to 0.0: zero_grad(self)."""
        zero_grad(self)


def as_value(x) -> "Value":
    """x itself if it is a Value, else a new input Value holding the number x."""
    return x if isinstance(x, Value) else Value(x)


def add(a, b) -> Value:
    """a + b, for Values or numbers; backward: both parents' grad grow by out.grad."""
    a, b = as_value(a), as_value(b)
    out = Value(a.data + b.data, (a, b), "+")

    def _backward():
        a.grad += out.grad
        b.grad += out.grad
    out._backward = _backward
    return out


def sub(a, b) -> Value:
    """a - b, for Values or numbers; backward: a.grad grows by out.grad, b.grad shrinks by it."""
    a, b = as_value(a), as_value(b)
    out = Value(a.data - b.data, (a, b), "-")

    def _backward():
        a.grad += out.grad
        b.grad -= out.grad
    out._backward = _backward
    return out


def mul(a, b) -> Value:
    """a * b, for Values or numbers; backward: a.grad += b * out.grad, b.grad += a * out.grad."""
    a, b = as_value(a), as_value(b)
    out = Value(a.data * b.data, (a, b), "*")

    def _backward():
        a.grad += b.data * out.grad
        b.grad += a.data * out.grad
    out._backward = _backward
    return out


def div(a, b) -> Value:
    """a / b, for Values or numbers; backward: a.grad += out.grad / b, b.grad -= out.grad * a / b**2."""
    a, b = as_value(a), as_value(b)
    out = Value(a.data / b.data, (a, b), "/")

    def _backward():
        a.grad += out.grad / b.data
        b.grad -= out.grad * a.data / b.data ** 2
    out._backward = _backward
    return out


def neg(a) -> Value:
    """-a; backward: a.grad shrinks by out.grad."""
    a = as_value(a)
    out = Value(-a.data, (a,), "neg")

    def _backward():
        a.grad -= out.grad
    out._backward = _backward
    return out


def power(a, n: float) -> Value:
    """a ** n for a number n (not a Value); backward: a.grad += n * a ** (n - 1) * out.grad."""
    a = as_value(a)
    out = Value(a.data ** n, (a,), f"**{n}")

    def _backward():
        a.grad += n * a.data ** (n - 1) * out.grad
    out._backward = _backward
    return out


def exp(a) -> Value:
    """e ** a; backward: a.grad += e ** a * out.grad (exp is its own derivative)."""
    a = as_value(a)
    out = Value(math.exp(a.data), (a,), "exp")

    def _backward():
        a.grad += out.data * out.grad
    out._backward = _backward
    return out


def log(a) -> Value:
    """The natural logarithm of a > 0; backward: a.grad += out.grad / a."""
    a = as_value(a)
    out = Value(math.log(a.data), (a,), "log")

    def _backward():
        a.grad += out.grad / a.data
    out._backward = _backward
    return out


def relu(a) -> Value:
    """max(a, 0); backward: a.grad += out.grad where a > 0 (and nothing at a <= 0)."""
    a = as_value(a)
    out = Value(a.data if a.data > 0 else 0.0, (a,), "relu")

    def _backward():
        a.grad += out.grad if a.data > 0 else 0.0
    out._backward = _backward
    return out


def tanh(a) -> Value:
    """tanh(a); backward: a.grad += (1 - tanh(a) ** 2) * out.grad."""
    a = as_value(a)
    t = math.tanh(a.data)
    out = Value(t, (a,), "tanh")

    def _backward():
        a.grad += (1 - t * t) * out.grad
    out._backward = _backward
    return out


def topo_sort(root: Value) -> list[Value]:
    """Every node root depends on, each once, every node after all its parents; root last. No recursion."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order


def backward(root: Value) -> None:
    """Fill in grad of every node root depends on: seed root.grad = 1.0, then each _backward once, in reverse topological order."""
    order = topo_sort(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()


def zero_grad(root: Value) -> None:
    """Set grad = 0.0 on root and on every node it depends on."""
    for node in topo_sort(root):
        node.grad = 0.0


class MLP:
    """Fully connected layers of Values, tanh after every layer but the last (linear scores)."""

    def __init__(self, sizes: list[int]) -> None:
        """Weights uniform in ±1/sqrt(n_in), biases 0.0, for each pair of consecutive sizes."""
        # layers[k][j] = (the weights of unit j of layer k, its bias)
        self.layers = [[([Value(random.uniform(-1, 1) / math.sqrt(n_in)) for _ in range(n_in)], Value(0.0))
                        for _ in range(n_out)]
                       for n_in, n_out in zip(sizes[:-1], sizes[1:])]

    def parameters(self) -> list[Value]:
        """Layer by layer, unit by unit: the unit's weights, then its bias."""
        return [p for layer in self.layers for weights, bias in layer for p in (*weights, bias)]

    def __call__(self, x: list) -> list[Value]:
        """The sizes[-1] outputs for the sizes[0] inputs x."""
        for k, layer in enumerate(self.layers):
            x = [sum((w * xi for w, xi in zip(weights, x)), bias) for weights, bias in layer]
            if k < len(self.layers) - 1:
                x = [v.tanh() for v in x]
        return x
