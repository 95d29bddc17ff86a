"""The page's modules, called without a browser."""
