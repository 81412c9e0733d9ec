"""Similarity in a class: submissions that copy the bundled references or each other.

    ipc-grade similarity SUBMISSIONS [--out OUT] [--threshold PERCENT] [--jobs N]
    ipc-grade batch SUBMISSIONS --out OUT --similarity [--similarity-threshold PERCENT]

For the instructor only: the result goes to the class page, the gradebook and OUT/similarity/,
never into a submission's own reports. docs/batch.md ("Similarity") is the user's account;
this is how it works.

What is compared, per mechanism. A submission's document for a mechanism is the program its
``ipc.toml`` names for it (``[programs]``) and what that program includes:

- ``python3 pipe.py`` (any first word that is an interpreter): the script, then the local
  modules it imports (``import util`` or ``from . import util`` with util.py beside it),
  followed from module to module;
- ``./pipe`` (a program the build makes): the sources with the same stem (pipe.c, .cc, .cpp,
  .cxx) beside the program, in the root or in src/, then every header they ``#include "..."``
  from the implementation, with the same-stem source of each header (common.h brings common.c);
- a script of its own (``./pipe.sh``, ``bash pipe.sh``): the script;
- then what runs that nothing names: the files its programs loaded when graded (the run
  record's ``loaded``, given as ``loaded``), and any other file of the submission that is mostly
  (JOIN) a reference's code for the mechanism, under whatever name (``Fingerprinter.copies``).

Only regular files inside the implementation are read (no link is followed, nothing outside
it), at most MAX_FILE_BYTES each and MAX_FILES per mechanism; a file with no tokenizer is left
out, with a note.

How. Each file is tokenized by pygments and written as copydetect does it (``normalise``):
identifiers become V (``self`` too), function names F, class names O, strings S,
preprocessor lines P, and whitespace and comments go, so renaming, re-indenting and
re-commenting change nothing. Every NOISE-character k-gram of that text is hashed and
copydetect winnows them (the winnowing of Schleimer, Wilkerson and Aiken, the algorithm MOSS
uses) with a window of WINDOW: a shared run of NOISE + WINDOW - 1 filtered characters is always
found. The k-grams are hashed with BLAKE2b, not Python's ``hash`` as copydetect does, which
changes from process to process: the same class gives the same fingerprints and the same table
on every run and every machine.

- Template code does not count: every k-gram of the bundled student template (its Python
  stubs, and student_template/c/ when there is one) is removed from every document.
- A submission is compared with each bundled reference (Python, and C where it is bundled).
- Two submissions are compared on what they share beyond the references: k-grams of a
  reference's document for the mechanism do not count between them. Ten copies of the
  reference are ten findings against the reference, not forty-five pairs.

A mechanism's score, for each side of a pair, is the share of that side's code (its filtered
characters that fingerprints cover) that the other side has too, in whole percent. A pair is
flagged on a mechanism when either side's score reaches the threshold and the shared code is at
least MIN_SHARED filtered characters (a few statements): a tiny file that matches is not a case.

Its rooms, from the bottom up:

    model.py        what was found: Region, Match, Pair, Summary, similarity.json
    sources.py      what a mechanism's code is: the files of its program (``program_files``)
    fingerprint.py  normalising, fingerprinting (copydetect, pygments) and what two documents share
    pages.py        the side-by-side view of a pair (templates/similarity.html)
    check.py        checking a class (``check_class``, ``compare``) and writing what it found
    command.py      `ipc-grade similarity`

Who may import it: classwork/ (the batch, results.py for the Summary's type) and the commands.
copydetect, numpy and pygments (the ``similarity`` extra) are imported only when a check runs.
"""

from __future__ import annotations

from .check import Result, check_class, compare, write
from .fingerprint import SimilarityUnavailable
from .model import DEFAULT_THRESHOLD, Match, Pair, Region, Summary, dumps, load
from .sources import program_files

__all__ = [
    "DEFAULT_THRESHOLD", "Match", "Pair", "Region", "Result", "SimilarityUnavailable", "Summary", "check_class", "compare",
    "dumps", "load", "program_files", "write",
]
