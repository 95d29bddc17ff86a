"""The shape-scene benchmark: scenes whose object region is known (`scenes`), and the training of
the small models that are explained on them (`training`, which needs tqdm)."""
