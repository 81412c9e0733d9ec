"""POSIX message queues: your implementation of `mqueue` (CONTRACT.md, section 3).

Usage: mqueue send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S] | mqueue recv NAME [--nowait] | mqueue unlink NAME

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
mqueue spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
