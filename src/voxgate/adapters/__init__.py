"""Adapters to the outside world: SQL, rate-limit storage, upstream realtime APIs."""
