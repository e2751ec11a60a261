from meetings_emulator.cli import main

raise SystemExit(main())
