"""Integration tests of the vision package with the real models and test photos."""
