"""The image upload: Gradio's image component, handing over the uploaded file undecoded."""

from __future__ import annotations

import base64

import gradio as gr
import PIL.Image

from vit_hybrid.images import MAX_PIXELS

from .downloads import download_path

MAX_FILE_SIZE = "50mb"  # Gradio refuses larger uploads before they reach the app
PIL.Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb guard, at our limit (it errors at 2x)


class ImageUpload(gr.Image):
    """`gr.Image` (upload, webcam, paste) that hands over the uploaded file undecoded: our loader
    decodes it once and says what is wrong with a bad file, where Gradio's own decoding would
    show only a bare "Error". A pasted data: URL is written out as the bytes it carries."""

    is_template = True  # drawn by the frontend's Image component

    def preprocess(self, payload):  # noqa: D102 - gradio's signature
        if payload is None:
            return None
        if payload.path is not None:
            return str(payload.path)
        if payload.url and payload.url.startswith("data:"):  # base64 bytes, written as they are
            path = download_path("upload", "")
            path.write_bytes(base64.b64decode(payload.url.partition(",")[2], validate=False))
            return str(path)
        raise gr.Error("The image arrived without its data; please upload it again.")
