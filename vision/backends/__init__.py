"""Face model backends, one file each; VisionConfig picks one detector and one embedder by their `type` key."""
