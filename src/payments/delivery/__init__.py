"""Delivery: what each function ships (its import closure) and reproducible deployment bundles."""
