"""Reading inputs and writing outputs: video and image readers, JSON/CSV/overlay writers and drawing,
the output schema, export, resume checkpoints and the one atomic-write helper."""
