"""The shape-scene benchmark and the bundled model."""
