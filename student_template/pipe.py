"""Anonymous pipes: your implementation of `pipe` (CONTRACT.md, section 3).

Usage: pipe relay | pipe duplex

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
pipe spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
