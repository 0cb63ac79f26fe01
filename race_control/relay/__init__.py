"""``race-control relay``: display pages and WebSockets for public sessions, from the central DB."""
