"""IPC conformance: behavioural specs for inter-process communication, run as a pytest plugin.

`pytest --impl=PATH` grades the implementation at PATH (a directory with an ``ipc.toml``
manifest, see CONTRACT.md) against the specs in ``conformance/specs``.

The rooms, each importing only from those below it (never upwards, never in a circle):

- ``plugin/``: the pytest plugin (hooks, the run's preparation, verdicts, the recorder, the
  fixtures); above everything else here;
- ``specs/``: the spec modules (``test_<mechanism>.py``), which import only ``specs/support/``
  (the spec author's toolbox) and the core;
- ``run/``: running programs (manifest, staging, supervision, capture, traces, timeline);
- ``kernel/``: reading the kernel (/proc, deadlocks, waits, explanations);
- the core: ``spec`` (the marker), ``outcomes``, ``deadline``, ``catalogue``, ``locate``,
  ``hookspecs`` and this module;
- the leaves, shared with ``grading``: ``record`` (the run record and the registry of
  mechanisms) and ``settings`` (every setting, once). They import nothing of the grader.

``manifest.py`` here only keeps ``python -m conformance.manifest`` working (run/manifest.py).
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The version of the implementation contract (CONTRACT.md) these specs hold programs to:
#: "MAJOR.MINOR" (its Versioning section says what each part means).
CONTRACT_VERSION = "2.1"
