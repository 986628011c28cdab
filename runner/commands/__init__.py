"""One module per ``sailjobs`` command; each only parses options and renders results."""
