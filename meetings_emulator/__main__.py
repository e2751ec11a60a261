"""`python -m meetings_emulator`: the same program as the `meetings-emulator` command."""

try:
    from meetings_emulator.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting: nothing was served, nothing to save
    raise SystemExit(0) from None

raise SystemExit(main())
