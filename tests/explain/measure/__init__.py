"""Measuring maps."""
