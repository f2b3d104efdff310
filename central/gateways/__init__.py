"""Tracker gateways: TCP servers speaking a tracker's own protocol, feeding the normal ingest path."""
