"""The model package: configs, model, processor, checkpoints, transformers' API."""
