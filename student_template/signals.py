"""Signals: your implementation of `signal` (CONTRACT.md, section 3).

Usage: signal catch | signal child [--delay-ms N] | signal send PID NAME [COUNT]

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
signal spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
