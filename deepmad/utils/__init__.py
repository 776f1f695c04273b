"""Small utilities shared across deepmad (no torch)."""
