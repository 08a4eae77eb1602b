"""The shipped fix templates (YAML, one file per rule pack)."""
