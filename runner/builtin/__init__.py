"""Default plugins shipped with the core, registered through the same hooks as any plugin."""
