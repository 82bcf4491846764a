"""Shipped model weights and their model cards (installed as the package posevid.models)."""
