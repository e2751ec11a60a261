"""The scenario runner: a YAML meeting story played against the emulator."""
