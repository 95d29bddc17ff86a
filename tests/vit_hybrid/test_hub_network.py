"""The real google/vit-hybrid-base-bit-384, when the Hub can be reached (skipped otherwise)."""

from __future__ import annotations

import io
import socket
import urllib.request

import pytest
import torch

HUB_ID = "google/vit-hybrid-base-bit-384"
CATS_URL = "http://images.cocodataset.org/val2017/000000039769.jpg"  # COCO val2017 id 39769


def reachable(host: str) -> bool:
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.network
@pytest.mark.skipif(not reachable("huggingface.co"), reason="the Hugging Face Hub cannot be reached")
def test_real_checkpoint_matches_the_published_result():
    from PIL import Image

    from vit_hybrid import ViTHybridForImageClassification, ViTHybridImageProcessor

    processor = ViTHybridImageProcessor.from_pretrained(HUB_ID)
    model = ViTHybridForImageClassification.from_pretrained(HUB_ID)
    with urllib.request.urlopen(CATS_URL, timeout=30) as response:
        image = Image.open(io.BytesIO(response.read()))
    with torch.no_grad():
        logits = model(**processor(image, return_tensors="pt")).logits
    assert model.config.id2label[int(logits.argmax(-1))] == "tabby, tabby cat"
    torch.testing.assert_close(logits[0, :3], torch.tensor([-1.9090, -0.4993, -0.2389]), atol=1e-3, rtol=0)
