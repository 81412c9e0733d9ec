"""Running programs: an implementation's manifest, its staging, and its programs supervised.

Everything that starts a process or prepares one:

- ``manifest``: ``ipc.toml`` loaded and checked, the build run once;
- ``implementation``: an implementation's programs as a spec starts them;
- ``sandbox``: who programs run as, and the implementation staged for that user;
- ``isolation``: private IPC, mount and network namespaces for the whole run;
- ``naming``: names, keys and paths no other worker or run shares, or can predict;
- ``leftovers``: what a spec's programs left (IPC objects, files), removed and counted;
- ``keeper``: each grading's programs held to a share of the machine's tables, and others' floods seen;
- ``runtime``: the programs' own Python, without the grader;
- ``limits``: what a program starts with (limits, signals, user, session);
- ``supervisor`` and ``process``: programs started, fed, read, waited on and ended;
- ``capture``: a program's output as the grader keeps it and a report shows it;
- ``integrity``: the watch on the grader's own files while a spec runs;
- ``evidence``: what this machine lets the grader see, probed by running a program;
- ``trace``: a program under strace, and its calls parsed;
- ``timeline``: what happened in a spec, in time, for the reports.

Who may import it: the spec author's toolbox (``conformance.specs.support``, which re-exports
what specs need) and the plugin. It imports the kernel wing (``conformance.kernel``) and the
core (``conformance.deadline``, ``conformance.outcomes``, ``conformance.record``,
``conformance.locate``), never the support, the specs or the plugin.
"""

__all__ = [
    "capture",
    "evidence",
    "implementation",
    "integrity",
    "isolation",
    "keeper",
    "leftovers",
    "limits",
    "manifest",
    "naming",
    "process",
    "runtime",
    "sandbox",
    "supervisor",
    "timeline",
    "trace",
]
