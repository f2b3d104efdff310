"""Unit tests of the vision package (no models, no photos)."""
