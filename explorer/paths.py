"""Where the app's own files are: the bundled model and the example images."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "model"
BUNDLED_NAME = "bundled: shape scenes (assets/model)"  # how the page and the API name the bundled model
EXAMPLES = ROOT / "assets" / "examples"
CSS = ROOT / "explorer" / "page.css"  # the page's own styling
