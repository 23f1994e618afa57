"""Placeholder main job until the CLI lands."""

print("moeseg demo: nothing to run yet")
