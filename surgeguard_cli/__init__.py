"""The `surgeguard` command: bench, game day, kill switch and audit, for people at a terminal."""
