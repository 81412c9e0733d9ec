"""System V message queues: your implementation of `msgq` (CONTRACT.md, section 3).

Usage: msgq send KEY TYPE [--nowait] | msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate] | msgq rm KEY

- send: all of stdin is one message of TYPE (a positive integer, else exit 1); create the queue
  with mode 0600 if needed (msgget with IPC_CREAT). More than 8192 bytes: exit 4.
- recv: msgrcv's type rule (0 = oldest; > 0 = oldest of that type; < 0 = oldest of the lowest
  type <= |TYPE|). Print `TYPE LENGTH`, a newline, then exactly LENGTH bytes of body (no newline
  after it). Longer than N (default 8192): exit 4 and leave it queued, unless --truncate.
- A full queue blocks send and an empty one blocks recv, in msgsnd/msgrcv themselves (no
  polling); with --nowait they exit 3 instead.

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
msgq spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
