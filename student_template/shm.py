"""Shared memory: your implementation of `shm` (CONTRACT.md, section 3).

Usage: shm write KEY [--size N] | shm read KEY | shm rm KEY | shm fork | shm counter NAME PROCS ITERS [--keep]

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
shm spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
