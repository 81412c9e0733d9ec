"""Sockets: your implementation of `socket` (CONTRACT.md, section 3).

Usage: socket tcp-server [--host H] [--port P] | socket tcp-client HOST PORT | socket udp-server [--host H] [--port P] | socket udp-client HOST PORT | socket unix-server PATH | socket unix-client PATH

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
socket spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
