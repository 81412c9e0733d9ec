"""Remote procedure calls: your implementation of `rpc` (CONTRACT.md, section 3.9).

Usage: rpc server [--host H] [--port P] | rpc client HOST PORT [--timeout MS] [--id N]

- Records, every integer big-endian: a request is LENGTH (4 bytes: what follows), ID (4 bytes)
  and the BODY `NAME ARGUMENT`; a reply is LENGTH, the request's ID, STATUS (1 byte: 0 ok,
  1 no such procedure, 2 bad arguments) and the result. Read each record whole: TCP may split
  a record over several recv() calls, or bring two in one.
- server: print `listening PORT`; serve every connection at once (a thread each); procedures
  add, echo, sleep, count; remember the replies of each connection and answer a retried ID
  from them without executing it again (at most once); exit 0 on SIGTERM.
- client: each stdin line is a call, sent at once (ids N, N+1, ...); match replies by ID and
  print `ok RESULT` or `error MESSAGE` per call in call order; exit 0, 5 (an error reply),
  6 (`timeout`: no reply within --timeout MS, default 5000) or 1 (`connection refused`,
  `connection closed`).
- Contract 2.1 settles the corners: `count ` (a trailing space) is `count`; any STATUS but 0 is
  an error reply; a stdin line over 1048572 bytes exits 4 (`message too long`); `no such
  procedure NAME` repeats at most 1024 bytes of NAME; a bad PORT is a usage error (the
  client's is 1 to 65535); a half-closed connection gets its replies.

Replace this stub. Until then it tells the grader it is not implemented (exit 69), and every
rpc spec scores 0 without failing.
"""

import sys


def main(argv):
    print("not implemented", file=sys.stderr)
    return 69


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
