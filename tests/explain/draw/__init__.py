"""Drawing and export."""
