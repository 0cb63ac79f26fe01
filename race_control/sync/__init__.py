"""Central sync: the local outbox pushed to the partner's PostgreSQL, shared rows pulled back.

docs/sync.md says how; ``status.SyncStatus`` is what the API and the desktop show.
"""
