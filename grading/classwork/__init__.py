"""Class work: grading a whole class, and what an instructor does with the results.

    batch.py        `ipc-grade batch`: the command
    submissions.py  finding the submissions in DIR        shards.py   slicing a class for many machines
    archives.py     unpacking a submitted archive safely  parallel.py grading them N at a time
    results.py      what a batch writes in OUT, and reads back
    merge.py        `ipc-grade merge`: the shards' OUT directories combined
    gradebook.py    each submission's entry and status, and the gradebook (CSV)
    classpage.py    the class page (HTML, templates/class.html)
    roster.py       a class roster joined to the results: lms.csv for Canvas or Moodle
    similarity/     submissions that copy the references or each other (instructors only)

Everything here works on run records (each submission graded by its own `ipc-grade` child
process), never in the grader's process: a submission can stop nothing but its own grading.

Who may import it: the commands (cli/) only. It imports the core (grader, rubric, late,
options, cpus), render/ and the leaves (conformance.record, conformance.settings); never kits/,
cli/ or plugin.py.
"""
