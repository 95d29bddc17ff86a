"""The shape scenes: deterministic, with the promised difficulty, and no shortcut to the class."""

from __future__ import annotations

import numpy as np
import torch

from explain.benchmark.scenes import CLASSES, MIN_STROKES, NOISE_STD, make_batch, make_scene


def test_scenes_are_deterministic_from_seed_and_index():
    a, b, c = make_scene(7, 3), make_scene(7, 3), make_scene(7, 4)
    assert np.array_equal(a.image, b.image) and a.label == b.label and np.array_equal(a.silhouette, b.silhouette)
    assert not np.array_equal(a.image, c.image)


def test_masks_and_sizes():
    sizes = {name: [] for name in CLASSES}
    for index in range(300):
        scene = make_scene(11, index, size=128)
        assert scene.image.shape == (128, 128, 3) and scene.image.dtype == np.uint8
        assert (scene.obj <= scene.silhouette).all()  # the object lies within its silhouette
        rows, cols = np.nonzero(scene.silhouette)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        sizes[CLASSES[scene.label]].append(extent / 128)
        if CLASSES[scene.label] == "ring":
            assert scene.obj.sum() < 0.8 * scene.silhouette.sum()  # the hole is in the silhouette only
    assert all(len(v) > 20 for v in sizes.values())  # every class occurs
    # Radius 10-20% of the side: a circle's extent is 20-40% of it (polygons a little less).
    assert 0.19 <= min(sizes["circle"]) and max(sizes["circle"]) <= 0.41
    assert NOISE_STD >= 25 and MIN_STROKES >= 3


def features(images: np.ndarray) -> torch.Tensor:
    """Colour histograms (16 bins per channel) and the centre pixel: what a shortcut would use."""
    hist = np.stack([np.stack([np.histogram(img[..., c], bins=16, range=(0, 256))[0] for c in range(3)]).ravel()
                     for img in images]) / (images.shape[1] * images.shape[2])
    centre = images[:, images.shape[1] // 2, images.shape[2] // 2].astype(np.float64) / 255
    x = torch.from_numpy(np.concatenate([hist, centre], axis=1)).float()
    return x


def test_colour_and_centre_are_no_shortcut_to_the_class():
    """A logistic regression on colour histograms plus the centre pixel stays near chance."""
    train_images, train_labels = make_batch(21, 0, 3000, size=64, processes=2)
    test_images, test_labels = make_batch(22, 0, 1000, size=64, processes=2)
    x, x_test = features(train_images), features(test_images)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, x_test = (x - mean) / std, (x_test - mean) / std
    y = torch.from_numpy(train_labels)
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], len(CLASSES))
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + 1e-3 * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        train_accuracy = (linear(x).argmax(-1) == y).float().mean().item()
        accuracy = (linear(x_test).argmax(-1) == torch.from_numpy(test_labels)).float().mean().item()
    assert train_accuracy > 1 / len(CLASSES)  # the regression did fit something
    assert accuracy <= 1 / len(CLASSES) + 0.10, accuracy
