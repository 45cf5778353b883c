"""The merge layers add, concatenate and multiply against NumPy transcriptions of torch.add (the
sum of the inputs), torch.cat(dim) and torch.mul, forward and autograd backward
(https://pytorch.org/docs/stable/generated/torch.cat.html and torch.add, torch.mul: a sum's
gradient reaches every input unchanged, cat's gradient is split by narrow() along dim, and
mul(a, b)'s is grad·b and grad·a, chained for three inputs), in float64 to 1e-9; their
refusals; dtype; and the conformance suite picking up their cases. Confirmed once against
torch 2.13 (float64), same cases: max difference 0 for add and concatenate, 8.9e-16 for
multiply (the order of its products).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.protocols import Layer, MergesInputs
from plugnet.testing import checks_for, select_components

F64 = np.dtype(np.float64)
TOLERANCE = 1e-9


def built(spec: Any, shapes: list[tuple[int, ...]], dtype: Any = F64) -> Any:
    layer = plugnet.layer(spec)
    layer.build(shapes, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    return layer


def inputs(shapes: list[tuple[int, ...]], batch: int = 5, dtype: Any = F64) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal((batch, *shape)).astype(dtype) for shape in shapes]


def close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE)


# -- NumPy transcriptions of PyTorch's forward and autograd backward ----------------------------


def torch_add(xs: list[np.ndarray], g: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """torch.add chained (x1 + x2) + x3: AddBackward passes grad to both operands."""
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y, [g.copy() for _ in xs]


def torch_mul(xs: list[np.ndarray], g: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """torch.mul chained ((x1 · x2) · x3): MulBackward(a, b) gives grad·b to a and grad·a to b,
    walked back from the last product."""
    partials = [xs[0]]  # partials[k] = x1 ⊙ … ⊙ x_{k+1}, the left operand of product k + 1
    for x in xs[1:]:
        partials.append(partials[-1] * x)
    grads: list[np.ndarray] = [np.empty(0)] * len(xs)
    upstream = g
    for k in range(len(xs) - 1, 0, -1):  # product k: partials[k − 1] ⊙ xs[k]
        grads[k] = upstream * partials[k - 1]
        upstream = upstream * xs[k]
    grads[0] = upstream
    return partials[-1], grads


def torch_cat(xs: list[np.ndarray], dim: int, g: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """torch.cat(xs, dim): CatBackward gives each input grad.narrow(dim, offset, size)."""
    y = np.concatenate(xs, axis=dim)
    grads, offset = [], 0
    for x in xs:
        size = x.shape[dim]
        grads.append(np.take(g, range(offset, offset + size), axis=dim))
        offset += size
    return y, grads


CASES = [
    ("add", [(4,), (4,)], lambda xs, g: torch_add(xs, g)),
    ("add", [(2, 3), (2, 3), (2, 3)], lambda xs, g: torch_add(xs, g)),
    ("multiply", [(4,), (4,)], lambda xs, g: torch_mul(xs, g)),
    ("multiply", [(2, 3), (2, 3), (2, 3)], lambda xs, g: torch_mul(xs, g)),
    ("multiply", [(3,), (3,), (3,), (3,)], lambda xs, g: torch_mul(xs, g)),
    ("concatenate", [(4,), (3,)], lambda xs, g: torch_cat(xs, -1, g)),
    ("concatenate(axis=-1)", [(2, 3), (2, 5)], lambda xs, g: torch_cat(xs, -1, g)),
    ("concatenate(axis=1)", [(2, 3), (1, 3), (3, 3)], lambda xs, g: torch_cat(xs, 1, g)),
    ("concatenate(axis=2)", [(2, 3, 2), (2, 1, 2)], lambda xs, g: torch_cat(xs, 2, g)),
    ("concatenate(axis=-2)", [(2, 3, 4), (2, 1, 4)], lambda xs, g: torch_cat(xs, -2, g)),
]


@pytest.mark.parametrize(("spec", "shapes", "reference"), CASES)
def test_forward_and_backward_equal_pytorch(spec: str, shapes: Any, reference: Any) -> None:
    layer = built(spec, shapes)
    xs = inputs(shapes)
    y = layer.forward(xs, training=True)
    g = np.random.default_rng(2).standard_normal(y.shape)
    expected_y, expected_grads = reference(xs, g)
    close(y, expected_y)
    dxs = layer.backward(g)
    assert isinstance(dxs, list) and len(dxs) == len(xs)
    for dx, expected, x in zip(dxs, expected_grads, xs, strict=True):
        assert dx.shape == x.shape
        close(dx, expected)


def test_the_built_output_shape_is_the_forward_shape() -> None:
    for spec, shapes, _ in CASES:
        layer = plugnet.layer(spec)
        output = layer.build(shapes, rng=np.random.default_rng(0), dtype=F64)
        assert layer.forward(inputs(shapes, batch=2), training=False).shape == (2, *output)
    assert built("concatenate(axis=1)", [(2, 3), (4, 3)]).forward(
        inputs([(2, 3), (4, 3)]), training=False
    ).shape == (5, 6, 3)


def test_they_are_merge_layers_without_parameters() -> None:
    for name in ("add", "multiply", "concatenate"):
        layer = plugnet.layer(name)
        assert isinstance(layer, MergesInputs) and isinstance(layer, Layer)
        assert type(layer).merges_inputs is True
        layer.build([(3,), (3,)], rng=np.random.default_rng(0), dtype=F64)
        assert layer.params == {} and layer.grads == {}
    assert plugnet.layer("concatenate").get_config() == {"axis": -1}
    assert plugnet.layer({"type": "concatenate", "axis": 2}).get_config() == {"axis": 2}
    assert plugnet.layer("add").get_config() == plugnet.layer("multiply").get_config() == {}


def test_multiply_handles_zeros_without_dividing() -> None:
    layer = built("multiply", [(3,), (3,), (3,)])
    xs = [np.array([[0.0, 2.0, 0.0]]), np.array([[3.0, 0.0, 0.0]]), np.array([[5.0, 7.0, 1.0]])]
    y = layer.forward(xs, training=True)
    close(y, [[0.0, 0.0, 0.0]])
    dxs = layer.backward(np.ones_like(y))
    close(dxs[0], [[15.0, 0.0, 0.0]])
    close(dxs[1], [[0.0, 14.0, 0.0]])
    close(dxs[2], [[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("spec", ["add", "multiply", "concatenate", "concatenate(axis=1)"])
def test_float32_stays_float32_and_inputs_are_left_alone(spec: str) -> None:
    shapes = [(2, 3), (2, 3), (2, 3)]
    layer = built(spec, shapes, dtype=np.float32)
    xs = inputs(shapes, dtype=np.float32)
    before = [x.copy() for x in xs]
    y = layer.forward(xs, training=True)
    assert y.dtype == np.float32
    g = np.ones_like(y)
    dxs = layer.backward(g)
    assert [dx.dtype for dx in dxs] == [np.float32] * 3
    for x, saved in zip(xs, before, strict=True):
        np.testing.assert_array_equal(x, saved)
    np.testing.assert_array_equal(g, np.ones_like(y))
    assert not any(dx is x for dx in dxs for x in xs)


def test_add_hands_every_input_the_gradient_itself() -> None:
    """Documented: safe because nobody writes to a gradient, and branches are summed a + b."""
    layer = built("add", [(3,), (3,)])
    layer.forward(inputs([(3,), (3,)]), training=True)
    g = np.ones((5, 3))
    assert all(dx is g for dx in layer.backward(g))


@pytest.mark.parametrize(
    ("spec", "shapes", "words"),
    [
        ("add", [(4,)], ["add merges two or more inputs, got 1 ((4,))", '"inputs": ["a", "b"]']),
        ("multiply", [], ["multiply merges two or more inputs, got 0 (none)"]),
        ("add", (4,), ["add merges several inputs", "one per-sample shape (4,)", "graph model"]),
        ("add", [(4,), (3,)], ["one per-sample shape, got (4,), (3,)", "does not broadcast"]),
        ("multiply", [(2, 3), (2, 1)], ["multiply takes inputs of one per-sample shape"]),
        (
            "concatenate",
            [(2, 3), (3, 4)],
            [
                "concatenate(axis=-1) joins per-sample shapes that differ only on that axis",
                "got (2, 3), (3, 4)",
                "pick the axis",
            ],
        ),
        ("concatenate", [(2,), (2, 3)], ["of one rank, got per-sample shapes (2,), (2, 3)"]),
        (
            "concatenate(axis=3)",
            [(2, 3), (2, 3)],
            ["axis=3 is out of range for per-sample shapes (2, 3), (2, 3)", "1 … 2 or -2 … -1"],
        ),
        ("concatenate(axis=-3)", [(2, 3), (2, 3)], ["axis=-3 (the batch axis) is out of range"]),
    ],
)
def test_build_refuses_what_cannot_be_merged(spec: str, shapes: Any, words: list[str]) -> None:
    with pytest.raises(ValueError) as raised:
        plugnet.layer(spec).build(shapes, rng=np.random.default_rng(0), dtype=F64)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("concatenate(axis=0)", ["cannot join along axis 0, the batch axis", "1", "-1"]),
        ({"type": "concatenate", "axis": True}, ["axis must be an integer", "True"]),
        ({"type": "concatenate", "axis": 1.0}, ["axis"]),
    ],
)
def test_concatenate_refuses_the_batch_axis_and_non_integers(spec: Any, words: list[str]) -> None:
    with pytest.raises(ValueError) as raised:
        plugnet.layer(spec)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize("spec", ["add", "multiply", "concatenate"])
def test_forward_refuses_arrays_that_differ_from_the_build(spec: str) -> None:
    layer = built(spec, [(3,), (3,)])
    for xs in (
        inputs([(3,), (3,), (3,)]),  # one too many
        inputs([(3,)]),
        inputs([(3,), (1,)]),  # would broadcast
        [np.ones((2, 3)), np.ones((1, 3))],  # batches that would broadcast
    ):
        with pytest.raises(ValueError) as raised:
            layer.forward(xs, training=False)
        message = str(raised.value)
        assert f"{spec} was built for 2 inputs of per-sample shapes (3,), (3,)" in message
        assert f"forward got {len(xs)} arrays" in message


def test_the_conformance_suite_checks_every_declared_case() -> None:
    items = checks_for(select_components(["add", "multiply", "concatenate"], kind="layer"))
    ids = {item.id for item in items}
    assert {
        "layer:add@4+4-gradient",
        "layer:add@2x3+2x3+2x3-gradient",
        "layer:multiply@2x3+2x3+2x3-mutation",
        "layer:concatenate-dtype",
        "layer:concatenate(axis=1)-gradient",
        "layer:concatenate(axis=2)-extremes",
        "layer:add@4+4-onnx",
    } <= ids
    shapes = {item.case.input_shapes for item in items if item.component.name == "concatenate"}
    assert ((2, 3), (2, 5)) in shapes and ((2, 3), (1, 3), (3, 3)) in shapes
    # 9 cases × 7 checks (onnx too: the merge layers lower), which tests/test_conformance.py runs
    assert len(items) == 9 * 7
