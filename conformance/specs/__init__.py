"""The behavioural specs, one module per mechanism (conformance/mechanisms.py lists them)."""
