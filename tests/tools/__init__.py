"""The command line, `play`, the pytest plugin and the served process."""
