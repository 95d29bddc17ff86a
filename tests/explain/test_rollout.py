"""Rollout, raw attention and gradient-weighted rollout against plain loops and hand computation."""

from __future__ import annotations

import itertools

import pytest
import torch

from explain import gradient_rollout, raw_attention, rollout, rollout_maps
from tests.helpers import MODELS
from vit_hybrid import ViTHybridForImageClassification


def loop_fuse(attention: list, fusion: str) -> list:
    """attention: [heads][T][T] lists -> [T][T]."""
    combine = {"mean": lambda v: sum(v) / len(v), "max": max, "min": min}[fusion]
    size = len(attention[0])
    return [[combine([head[i][j] for head in attention]) for j in range(size)] for i in range(size)]


def loop_residual(attention: list, fusion: str, discard: float) -> list:
    fused = loop_fuse(attention, fusion)
    size = len(fused)
    count = int(size * size * discard)
    if count:
        threshold = sorted(v for row in fused for v in row)[count - 1]
        fused = [[0.0 if v <= threshold and (i, j) != (0, 0) else v for j, v in enumerate(row)] for i, row in enumerate(fused)]
    mixed = [[(fused[i][j] + (1.0 if i == j else 0.0)) / 2 for j in range(size)] for i in range(size)]
    return [[v / sum(row) for v in row] for row in mixed]


def loop_matmul(a: list, b: list) -> list:
    n, m, p = len(a), len(b), len(b[0])
    return [[sum(a[i][k] * b[k][j] for k in range(m)) for j in range(p)] for i in range(n)]


def loop_rollout_row(attentions: list, fusion: str, discard: float) -> list:
    """attentions: [layers][heads][T][T]; returns row 0 of A_L ... A_1, patches only."""
    joint = None
    for layer in attentions:
        factor = loop_residual(layer, fusion, discard)
        joint = factor if joint is None else loop_matmul(factor, joint)
    return joint[0][1:]


def loop_gradient_rollout(attentions: list, gradients: list) -> list:
    size = len(attentions[0][0])
    relevance = [[1.0 if i == j else 0.0 for j in range(size)] for i in range(size)]
    for layer, grads in zip(attentions, gradients):
        heads = len(layer)
        mixed = [[sum(max(0.0, g[i][j] * a[i][j]) for a, g in zip(layer, grads)) / heads for j in range(size)] for i in range(size)]
        update = loop_matmul(mixed, relevance)
        relevance = [[relevance[i][j] + update[i][j] for j in range(size)] for i in range(size)]
    return relevance[0][1:]


def random_attentions(layers: int, heads: int, grid: tuple[int, int], seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    size = 1 + grid[0] * grid[1]
    return [torch.randn(1, heads, size, size, generator=gen, dtype=torch.float64).mul(2).softmax(-1) for _ in range(layers)]


def test_hand_computed_single_layer():
    """One head, class token and one patch: A = [[.6, .4], [.3, .7]] -> (A + I)/2 = [[.8, .2], [.15, .85]]."""
    attention = torch.tensor([[[[0.6, 0.4], [0.3, 0.7]]]], dtype=torch.float64)
    assert rollout_maps([attention], (1, 1))[0, 0, 0, 0].item() == pytest.approx(0.2, abs=1e-12)
    # Two layers: row 0 of [[.8, .2], [.15, .85]]^2 = [.8*.8 + .2*.15, .8*.2 + .2*.85] = [.67, .33]
    assert rollout_maps([attention, attention], (1, 1))[1, 0, 0, 0].item() == pytest.approx(0.33, abs=1e-12)


def test_hand_computed_discard_keeps_the_class_token_link():
    """Discarding 3 of 4 links of [[.1, .9], [.3, .7]] keeps [0, 0] (.1, the weakest) and .9:
    (A' + I)/2 = [[.55, .45], [0, 1]] before renormalising rows (already normalised)."""
    attention = torch.tensor([[[[0.1, 0.9], [0.3, 0.7]]]], dtype=torch.float64)
    assert rollout_maps([attention], (1, 1), discard=0.75)[0, 0, 0, 0].item() == pytest.approx(0.45, abs=1e-12)


@pytest.mark.parametrize(("fusion", "discard"), list(itertools.product(["mean", "max", "min"], [0.0, 0.5, 0.9])))
def test_rollout_matches_a_plain_loop(fusion, discard):
    grid = (2, 3)
    attentions = random_attentions(3, 4, grid, seed=7)
    maps = rollout_maps(attentions, grid, fusion, discard)  # (L, B, h, w)
    as_lists = [a[0].tolist() for a in attentions]
    for upto in range(1, 4):
        expected = torch.tensor(loop_rollout_row(as_lists[:upto], fusion, discard), dtype=torch.float64).reshape(grid)
        torch.testing.assert_close(maps[upto - 1, 0], expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(rollout(attentions, fusion, discard)[0, 0, 1:].reshape(grid), maps[-1, 0], atol=1e-12, rtol=0)


def test_identity_attention_rolls_out_to_identity():
    eye = torch.eye(5, dtype=torch.float64).expand(1, 2, 5, 5)
    torch.testing.assert_close(rollout([eye, eye, eye])[0], torch.eye(5, dtype=torch.float64))


def test_raw_attention_per_head():
    grid = (2, 3)
    attention = random_attentions(1, 4, grid, seed=3)[0]
    maps = raw_attention(attention, grid)
    for head in range(4):
        expected = torch.tensor([attention[0, head, 0, 1 + i * 3 + j].item() for i in range(2) for j in range(3)], dtype=torch.float64)
        torch.testing.assert_close(maps[0, head].flatten(), expected, atol=0, rtol=0)


def test_gradient_rollout_matches_a_plain_loop():
    grid = (2, 2)
    attentions = random_attentions(3, 2, grid, seed=11)
    gen = torch.Generator().manual_seed(12)
    gradients = [torch.randn(a.shape, generator=gen, dtype=torch.float64) for a in attentions]
    ours = gradient_rollout(attentions, gradients, grid)[0]
    expected = loop_gradient_rollout([a[0].tolist() for a in attentions], [g[0].tolist() for g in gradients])
    torch.testing.assert_close(ours.flatten(), torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=0)


def test_real_model_attentions_match_plain_loops():
    """On a real model's attentions and attention gradients, our maps equal the plain loops."""
    model = ViTHybridForImageClassification.from_pretrained(MODELS / "same_padding")
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    out = model(x, output_attentions=True)
    gradients = torch.autograd.grad(out.logits[0, 2], out.attentions)
    attentions = [a.detach() for a in out.attentions]
    lists = [a[0].tolist() for a in attentions]
    for fusion in ("mean", "max"):
        expected = torch.tensor(loop_rollout_row(lists, fusion, 0.9)).reshape(4, 4)
        torch.testing.assert_close(rollout_maps(attentions, (4, 4), fusion, 0.9)[-1, 0], expected, atol=1e-6, rtol=0)
    expected = torch.tensor(loop_gradient_rollout(lists, [g[0].tolist() for g in gradients])).reshape(4, 4)
    torch.testing.assert_close(gradient_rollout(attentions, gradients, (4, 4))[0], expected, atol=1e-6, rtol=0)


def test_bad_arguments_are_clear():
    attention = random_attentions(1, 2, (1, 2), seed=0)
    with pytest.raises(ValueError, match="fusion must be one of"):
        rollout_maps(attention, (1, 2), fusion="median")
    with pytest.raises(ValueError, match=r"discard fraction must be in \[0, 1\)"):
        rollout_maps(attention, (1, 2), discard=1.0)
