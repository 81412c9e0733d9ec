"""IPC conformance: behavioural specs for inter-process communication, run as a pytest plugin.

`pytest --impl=PATH` grades the implementation at PATH (a directory with an ``ipc.toml``
manifest, see CONTRACT.md) against the specs in ``conformance/specs``.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The version of the implementation contract (CONTRACT.md) these specs hold programs to.
CONTRACT_VERSION = 2
