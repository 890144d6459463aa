"""``python -m pusher_channels``: the ``pusher-channels`` command-line tool."""

from pusher_channels.cli import main

raise SystemExit(main())
