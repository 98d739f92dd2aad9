"""Training-side code (PyTorch): data rendering, networks, training loops. Used from a clone."""
