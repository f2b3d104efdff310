"""Unit tests of models/fetch.py against a local HTTP server."""
