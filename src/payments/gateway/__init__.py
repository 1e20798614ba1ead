"""The sandbox upstream payment gateway: deterministic test payment methods, in memory, for local runs
and tests. `sandbox` holds the rules; `server` puts them behind a small JSON HTTP API."""
