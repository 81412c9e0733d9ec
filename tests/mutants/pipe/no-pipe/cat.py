"""Mutant: `pipe relay` is cat and `pipe duplex` upper-cases in one process: no fork, no pipe."""

import sys

out = sys.stdout.buffer
for line in sys.stdin.buffer:
    out.write(line.upper() if sys.argv[1:] == ["duplex"] else line)
    out.flush()
