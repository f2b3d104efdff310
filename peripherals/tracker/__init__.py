"""GPS trackers: one module per byte protocol (`gt06`: Concox GT06 over TCP) and a simulator speaking it."""
