"""Differentiable ops, one module per family; each calls kernels by name."""
