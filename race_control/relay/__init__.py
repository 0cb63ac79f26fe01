"""``race-control relay``: screens of public display sessions served from the central database
(docs/sync.md#screens-beyond-the-venue).  Kept import-free: the CLI builds its parser from here."""

POLL_INTERVAL = 1.0  # seconds between polls of the central tables when no NOTIFY came
