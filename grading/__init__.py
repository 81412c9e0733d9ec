"""Grade reports: pure transformations from run records to documents, and the `ipc-grade` command.

The rooms, and who may import whom (imports only go down; no circle):

    cli/          the commands: ipc-grade itself (its parser, COMMANDS), grading one
                  implementation (grade.py, session.py: a child pytest), replay, new
    plugin.py     the reporting side of `pytest --impl` (the only module that imports pytest)
      ─ both may import everything below ─
    classwork/    a whole class: batch, merge, archives, roster, the gradebook and class page,
                  similarity/          (imports render/ and the core, never kits/)
    kits/         where courses grade: the Gradescope bundle, the wheel, the selftest
                                       (imports render/ and the core, never classwork/)
      ─ both may import ─
    render/       one module per report format, their registry (FORMATS, write_all), what they
                  show (present.py), the timeline's pictures, the HTML templates
      ─ may import ─
    the core      rubric.py, late.py (the late policy), grader.py (the grader as a program it
                  asks: catalogue, manifest, bundled, version, the checked rubric), options.py
                  (ipc-grade's options from the settings schema), cpus.py (--jobs auto)
      ─ may import ─
    the leaves    conformance.record and conformance.settings: the only modules of conformance
                  grading imports; everything else of the grader it asks through a subprocess

render_classroom.py and render_gradescope.py are shims: the names the student template's workflow
(`python -m grading.render_classroom`) and older Gradescope bundles' run_autograder
(`python -m grading.render_gradescope`) type, kept for the copies of them that are out there.
"""
