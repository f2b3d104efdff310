"""`make demo`: the whole system on one machine (central + broker + a simulated device)."""
