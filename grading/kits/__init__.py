"""The kits for the places courses grade (docs/kits.md): data files, no code.

    constraints.txt        the tested versions of every dependency (scripts/constraints.py)
    install.sh             the grader into a virtual environment of its own, pinned, with the
                           programs' own Python built: the Gradescope bundle's setup.sh and the
                           Dockerfile run it
    prairielearn/          the entrypoint PrairieLearn's external grader runs in the image, and
                           an example question (info.json, question.html, tests/rubric.toml)

The Gradescope bundle itself is written by grading/bundle.py.
"""
