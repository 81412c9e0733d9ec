"""``python -m grading.render RECORD [--lang ko|en] [--show-hidden] --FORMAT FILE ...``: render a
run record (``--json``'s file) again, in any format and either language (docs/i18n.md): the record
is language-neutral, so the reports of one grading can be had in both without grading again.
Without a --FORMAT, the terminal report is printed.
"""

from __future__ import annotations

import argparse
import sys

from conformance import record as run_record
from conformance.settings import SETTINGS

from . import FORMATS, i18n, render, write_all


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.render", description=__doc__.split("\n\n")[0])
    p.add_argument("record", metavar="RECORD", help="a run record (ipc-grade --json FILE)")
    p.add_argument(SETTINGS["lang"].option, dest="lang", metavar="LANG", type=SETTINGS["lang"].argtype(),
                   help="render in LANG: en or ko (default: the language the record was rendered in)")
    p.add_argument("--show-hidden", action="store_true", help=SETTINGS["show_hidden"].help)
    for f in FORMATS.values():
        p.add_argument(f"--{f.name}", metavar="FILE", help=f.help)
    args = p.parse_args(argv)
    try:
        record = run_record.load(args.record)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"python -m grading.render: cannot read the record {args.record}: {exc}", file=sys.stderr)
        return 2
    if args.lang:
        record = i18n.rendered_in(record, args.lang)
    targets = {name: getattr(args, name) for name in FORMATS}
    if not any(targets.values()):
        sys.stdout.write(render("text", record, args.show_hidden))
        return 0
    problems = write_all(record, targets, show_hidden=args.show_hidden)
    for problem in problems:
        print(f"python -m grading.render: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
