"""Central's HTTP API (FastAPI); OpenAPI at /docs."""
