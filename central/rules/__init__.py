"""Pure rule engines: fences, lost contact, 人机分离, device alarms. No I/O, no clock, no database.

Every rule has the shape `evaluate(state, observation, params) -> (new_state, decisions)` (and,
for rules that fire on silence, `tick(state, now, params)`); states are frozen values that
serialise to JSON (`to_json` / `from_json`) so central keeps them per subject in the database
and any ingest worker can pick up where another left off.
"""
