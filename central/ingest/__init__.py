"""Ingest: MQTT consumer that validates, stores idempotently, and acknowledges only after commit."""
