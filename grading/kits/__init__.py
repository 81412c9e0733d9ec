"""The kits for the places courses grade (docs/kits.md).

    gradescope.py          `ipc-grade gradescope-bundle` (the autograder zip) and the last step
                           of its run_autograder (`python -m grading.kits.gradescope`: results.json
                           with the late policy from Gradescope's metadata)
    wheel.py               the running grader as a wheel, which a kit carries
                           (`python -m grading.kits.wheel DIR`)
    selftest.py            an installed grader proves it grades (`python -m grading.kits.selftest`)
    constraints.txt        the tested versions of every dependency (scripts/constraints.py)
    install.sh             the grader into a virtual environment of its own, pinned, with the
                           programs' own Python built: the Gradescope bundle's setup.sh and the
                           Dockerfile run it
    prairielearn/          the entrypoint PrairieLearn's external grader runs in the image, and
                           an example question (info.json, question.html, tests/rubric.toml)

Who may import it: the commands (cli/). It imports render/ and the core (grader, rubric, late,
options), never classwork/ or cli/; selftest and wheel run in an installed grader and ask it
the way a course's machine would.
"""
