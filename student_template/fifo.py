"""Named pipes (FIFOs): your implementation of `fifo` (CONTRACT.md, section 3).

Usage: fifo write PATH | fifo read PATH

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
fifo spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
