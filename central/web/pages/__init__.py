"""The officer UI's pages, one module each."""
