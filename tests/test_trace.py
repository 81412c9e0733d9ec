"""The strace reader: the evidence for `signal.sigkill-attempted` and any later trace-based spec."""

from __future__ import annotations

from conformance.run.trace import parse, split_arguments

TRACE = """\
4242  rt_sigaction(SIGKILL, {sa_handler=0x5555, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7f}, NULL, 8) = -1 EINVAL (Invalid argument)
4242  rt_sigaction(SIGUSR1, {sa_handler=0x5555, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK, sa_restorer=0x7f}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
4243  read(3,  <unfinished ...>
4242  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4244} ---
4243  <... read resumed>"hello, (world)\\n", 4096) = 14
4244  rt_sigsuspend([], 8 <unfinished ...>) = ?
4244  +++ killed by SIGKILL +++
4245  openat(AT_FDCWD, "/tmp/x", O_RDONLY
"""


def test_calls_are_parsed_with_result_and_errno():
    calls = parse(TRACE)
    assert [(c.pid, c.name, c.ret, c.errno) for c in calls] == [
        (4242, "rt_sigaction", -1, "EINVAL"),
        (4242, "rt_sigaction", 0, None),
        (4243, "read", 14, None),
        (4244, "rt_sigsuspend", None, None),
    ]
    kill = calls[0]
    assert kill.failed and kill.arg(0) == "SIGKILL" and kill.arg(2) == "NULL"
    assert kill.arg(1).startswith("{sa_handler=0x5555")


def test_unfinished_calls_are_joined_with_their_resumption():
    read = parse(TRACE)[2]
    assert read.arguments == ["3", '"hello, (world)\\n"', "4096"]


def test_arguments_split_only_at_top_level_commas():
    assert split_arguments('1, {a=1, b=[2, 3]}, "x, y", [4]') == ["1", "{a=1, b=[2, 3]}", '"x, y"', "[4]"]


def test_a_cut_short_last_line_and_signal_lines_are_skipped():
    assert all(c.name != "openat" for c in parse(TRACE))
    assert parse("4242  --- SIGUSR1 {si_signo=SIGUSR1} ---\n4242  +++ exited with 0 +++\n") == []
