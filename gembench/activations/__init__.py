"""Activations: the catalog, its array namespace, the float64 reference, dtypes and accuracy."""
