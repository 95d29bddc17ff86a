"""The dataset runner."""
