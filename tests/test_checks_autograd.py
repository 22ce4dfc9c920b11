from __future__ import annotations

import random

import pytest

import autograder.checks.autograd as checks
from autograder.grade import grade_loaded, grade_solutions
from autograder.lessons import lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import CheckFailed, Status
from conftest import assert_fails_only_its_exercise
from mutants_autograd import MUTANTS


@pytest.fixture
def autograd_lesson():
    return lesson_for("06_autograd")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("06_autograd", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 20


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, autograd_lesson, tmp_path):
    assert_fails_only_its_exercise(autograd_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(autograd_lesson):
    assert len(MUTANTS) >= 12
    assert {m.exercise for m in MUTANTS} == {e.name for e in autograd_lesson.exercises()}


def test_the_issues_mistakes_are_in_the_zoo():
    names = {m.name for m in MUTANTS}
    assert {"add overwrites the gradient", "topo_sort in pre-order", "relu passes the gradient where x < 0",
            "pow missing n", "log with 1/x²", "sub keeps the sign", "Value without __radd__",
            "backward without the seed 1.0", "zero_grad skips the root", "topo_sort by recursion",
            "backward searches the list per node"} <= names


def test_a_wrong_operation_costs_points_only_in_its_own_exercise(autograd_lesson, tmp_path):
    # The learner's tanh is wrong, and their Value, backward and MLP use it: only tanh loses its point.
    from mutants_autograd import tanh_squares_input
    from solutions import autograd as ref
    namespace = dict(vars(ref))
    namespace["tanh"] = tanh_squares_input
    graded = grade_loaded(autograd_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["tanh"]


def test_other_right_answers_pass():
    # sub as a + (-b), div as a * b ** -1, relu through a mask: other right answers get full marks.
    from solutions import autograd as ref
    namespace = {}
    exec("def sub(a, b):\n    return add(a, neg(b))\n"
         "def div(a, b):\n    return mul(a, power(b, -1))\n", vars(ref) | {"__builtins__": __builtins__}, namespace)
    for name in ("sub", "div"):
        getattr(checks, f"check_{name}")(namespace[name], "cpu")


def test_random_expressions_agree_with_torch_and_use_every_operation():
    rng = random.Random(0)
    seen = set()
    for _ in range(checks.RANDOM_EXPRESSIONS):
        expr = checks.Expression(rng, checks._ops(), rng.randint(3, 25))
        seen |= {step.split("(")[0] for step in expr.steps}
        checks._expect_expression(expr, "reference", checks._ref("backward"))
    assert seen == set(checks.OPS)


def test_finite_differences_referee_a_wrong_backward():
    from mutants_autograd import exp_derivative_x
    checks._HINTS["exp"], saved = [], checks._HINTS["exp"]  # no hint: the referee's message is what is left
    try:
        with pytest.raises(CheckFailed, match="Finite differences of your forward"):
            checks.check_exp(exp_derivative_x, "cpu", seed=1)
    finally:
        checks._HINTS["exp"] = saved


def test_backward_timing_separates_one_pass_from_a_search_per_node():
    # The reference's growth relative to itself is about 1; a list search per node grows several times more.
    from mutants_autograd import backward_searches_the_list
    from solutions.autograd import backward
    rng = random.Random(0)
    assert checks._growth(backward, rng)[2] < checks.MAX_RELATIVE_GROWTH
    assert checks._growth(backward_searches_the_list, rng)[2] > checks.MAX_RELATIVE_GROWTH


MICROGRAD_STYLE_VALUE = '''
class Value:
    def __init__(self, data, parents=(), op=""):
        self.data, self.grad, self._parents, self._op = float(data), 0.0, tuple(parents), op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out
    __radd__ = __add__

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out
    __rmul__ = __mul__

    def __pow__(self, n):
        out = Value(self.data ** n, (self,), "**")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1

    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def relu(self):
        return relu(self)

    def tanh(self):
        return tanh(self)

    def backward(self):
        backward(self)

    def zero_grad(self):
        zero_grad(self)
'''


def test_a_value_with_its_arithmetic_written_inline_passes():
    # micrograd's layout: the operators compute and record their own backward instead of calling add, mul, ...
    from solutions import autograd as ref
    namespace = dict(vars(ref))
    exec(MICROGRAD_STYLE_VALUE, namespace)
    checks.check_Value(namespace["Value"], "cpu")
