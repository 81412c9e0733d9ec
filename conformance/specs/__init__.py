"""The behavioural specs, one module per mechanism (the registry in conformance/record.py lists them)."""
