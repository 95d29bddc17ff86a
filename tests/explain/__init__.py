"""The explanation library."""
