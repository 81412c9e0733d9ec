"""System V message queues: your implementation of `msgq` (CONTRACT.md, section 3).

Usage: msgq send KEY TYPE [--nowait] | msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate] | msgq rm KEY

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
msgq spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
