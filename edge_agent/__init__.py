"""Camera edge agent: capture, track, embed, match, publish sightings (the edge-agent issue)."""
