"""Contract 2.1's rpc answers (conformance/CONTRACT.md, section 3.9 and Versioning), observed in
both references: each question an independent implementation had to guess, and what the
contract now says. The grader's own sockets play the other side."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT

MAX_LENGTH = 1 << 20
HEADER = struct.Struct("!II")
needs_cc = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None, reason="no C compiler or make here")


@pytest.fixture(scope="module", params=["python", pytest.param("c", marks=needs_cc)])
def rpc(request, tmp_path_factory) -> list[str]:
    """The command that runs a reference's rpc program."""
    if request.param == "python":
        return [sys.executable, str(ROOT / "reference" / "rpc.py")]
    build = tmp_path_factory.mktemp("c")
    for f in (ROOT / "reference" / "c").iterdir():
        if f.suffix in (".c", ".h") or f.name == "Makefile":
            shutil.copy(f, build)
    subprocess.run(["make", "rpc"], cwd=build, check=True, capture_output=True)
    return [str(build / "rpc")]


@pytest.fixture
def server(rpc):
    proc = subprocess.Popen([*rpc, "server"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline().split()
    assert line[0] == b"listening", line
    yield int(line[1])
    proc.terminate()
    assert proc.wait(10) == 0


def request(request_id: int, body: bytes) -> bytes:
    return HEADER.pack(4 + len(body), request_id) + body


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        got = sock.recv(n - len(data))
        if not got:
            break
        data += got
    return data


def call(sock: socket.socket, request_id: int, body: bytes) -> tuple[int, int, bytes]:
    sock.sendall(request(request_id, body))
    return reply(sock)


def reply(sock: socket.socket) -> tuple[int, int, bytes]:
    length, rid = HEADER.unpack(recv_exact(sock, 8))
    assert 5 <= length <= MAX_LENGTH, length
    payload = recv_exact(sock, length - 4)
    return rid, payload[0], payload[1:]


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def test_an_empty_argument_is_no_argument(server):
    with connect(server) as s:
        assert call(s, 1, b"count ")[1:] == (0, b"1")
        assert call(s, 2, b"echo ")[1:] == (0, b"")
        assert call(s, 3, b"add ")[1] == 2
        assert call(s, 4, b"sleep ")[1] == 2
        assert call(s, 5, b"count x")[1] == 2


def test_sleep_is_written_as_an_integer_and_printed_plain(server):
    with connect(server) as s:
        assert call(s, 1, b"sleep 007")[1:] == (0, b"7")
        assert call(s, 2, b"sleep -0")[1:] == (0, b"0")
        for i, bad in enumerate((b"sleep +5", b"sleep 5 ", b"sleep 60001", b"sleep -1", b"sleep 1.5")):
            assert call(s, 10 + i, bad)[1] == 2, bad


def test_an_unknown_names_message_stays_within_the_length_limit(server):
    name = b"x" * (MAX_LENGTH - 4)
    with connect(server) as s:
        rid, status, message = call(s, 1, name)
        assert (rid, status) == (1, 1)
        assert message == b"no such procedure " + b"x" * 1024


def test_retries_do_not_count_among_the_remembered(server):
    """Call `count` as id 0, retry it 300 times, then 255 new calls: id 0 is among the last 256
    executed, so its retry is still answered from memory."""
    with connect(server) as s:
        first = call(s, 0, b"count")
        for _ in range(300):
            assert call(s, 0, b"count") == first
        for i in range(1, 256):
            call(s, i, b"echo")
        assert call(s, 0, b"count") == first
        assert call(s, 256, b"count")[2] == b"%d" % (int(first[2]) + 1)


def test_a_half_closed_connection_gets_its_replies(server):
    with connect(server) as s:
        s.sendall(request(1, b"sleep 50") + request(2, b"echo a") + request(3, b"add 1 2") + request(4, b"echo b")[:6])
        s.shutdown(socket.SHUT_WR)
        assert [reply(s) for _ in range(3)] == [(1, 0, b"50"), (2, 0, b"a"), (3, 0, b"3")]
        assert s.recv(1) == b""  # then the server closes; the unfinished record is dropped


def test_a_status_other_than_0_1_2_is_an_error_reply(rpc):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client = subprocess.Popen([*rpc, "client", "127.0.0.1", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        conn, _ = listener.accept()
        client.stdin.write(b"what\n")
        client.stdin.close()
        length, rid = HEADER.unpack(recv_exact(conn, 8))
        recv_exact(conn, length - 4)
        conn.sendall(HEADER.pack(5 + 4, rid) + b"\x07oops")
        out, err = client.stdout.read(), client.stderr.read()
        client.wait(10)
        conn.close()
    assert (client.returncode, out) == (5, b"error oops\n"), err


def test_a_line_too_long_for_a_request_exits_4(rpc):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client = subprocess.Popen([*rpc, "client", "127.0.0.1", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        conn, _ = listener.accept()
        conn.settimeout(10)
        out, err = client.communicate(b"echo fits\n" + b"e" * (MAX_LENGTH - 3) + b"\n", timeout=20)
        sent = b""
        while chunk := conn.recv(1 << 16):
            sent += chunk
        conn.close()
    assert client.returncode == 4 and b"message too long" in err, (client.returncode, err)
    assert sent == request(1, b"echo fits"), sent[:40]  # nothing of the long line


def test_the_longest_line_is_a_call(rpc):
    """A body of MAX_LENGTH - 4 bytes, its LENGTH exactly 1 MiB, is sent."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        client = subprocess.Popen([*rpc, "client", "127.0.0.1", str(port), "--timeout", "10000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        conn, _ = listener.accept()
        conn.settimeout(10)
        client.stdin.write(b"e" * (MAX_LENGTH - 4) + b"\n")
        client.stdin.close()
        length, rid = HEADER.unpack(recv_exact(conn, 8))
        assert length == MAX_LENGTH and len(recv_exact(conn, length - 4)) == MAX_LENGTH - 4
        conn.sendall(HEADER.pack(5 + 2, rid) + b"\x00ok")
        assert client.wait(10) == 0
        conn.close()


@pytest.mark.parametrize("args", [["server", "--port", "65536"], ["server", "--port", "-1"], ["server", "--port", "http"],
                                  ["client", "127.0.0.1", "0"], ["client", "127.0.0.1", "65536"], ["client", "127.0.0.1", "x1"]])
def test_a_bad_port_is_a_usage_error(rpc, args):
    proc = subprocess.run([*rpc, *args], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr)


def test_the_contract_states_each_answer():
    text = (ROOT / "conformance" / "CONTRACT.md").read_text()
    for answer in ("`count ` is `count`", "`sleep 007` gives `7`", "A reply whose STATUS is not 0 is an error reply",
                   "exits 4 with `message too long`", "NAME cut to its first 1024 bytes", "may hold up the later calls of its own connection",
                   "PORT is 1 to 65535", "P is 0 to 65535", "of the client reading\n  the call's line", "a retry is not executed, so it does not count",
                   "half-close"):
        assert answer in text, answer
    assert Path(ROOT / "CHANGELOG.md").read_text().count("2.1") >= 1


class _Run:
    """What rpc's result check reads of a client run: its stdout and how it ended."""

    def __init__(self, out: bytes) -> None:
        import types

        from conformance.run.status import ExitStatus

        self.stdout = types.SimpleNamespace(data=out)
        self.status = ExitStatus(0)
        self.label, self.pid = "your `rpc client`", 1

    def record(self):  # its transcript, which the failure keeps
        from conformance.record import Transcript

        return Transcript(command="./rpc client 127.0.0.1 PORT", label=self.label, pid=self.pid, stdout=self.stdout.data.decode())


@pytest.mark.parametrize(("printed", "fails"), [
    (b"ok 5\nok 1\nok 2\nok 3\n", None),  # one connection's calls one at a time, in order
    (b"ok 5\nok 2\nok 1\nok 3\n", None),  # run at once, as the contract lets a server: any order
    (b"ok 5\nok 1\nok 1\nok 2\n", "two calls got the same value"),
    (b"ok 5\nok 1\nok 3\nok 4\n", "a value was skipped"),
    (b"ok 5\nok 1\nok x\nok 2\n", "`ok N`, the counter's new value"),
])
def test_count_results_are_consecutive_in_any_order_the_contract_allows(printed, fails):
    """The contract lets a server take one connection's requests at once (section 3.9): its
    `count` calls may finish in any order, so rpc.call-returns-result asks for consecutive
    values, one each, not for them in call order (a per-request-thread server failed it at
    random)."""
    from conformance.outcomes import SpecFailure
    from conformance.specs import test_rpc

    made = [(b"add 2 3", b"ok 5"), (b"count", None), (b"count", None), (b"count", None)]
    if fails is None:
        test_rpc._check_results(_Run(printed), made, "the client")
    else:
        with pytest.raises(SpecFailure) as caught:
            test_rpc._check_results(_Run(printed), made, "the client")
        assert fails in str(caught.value) + str(getattr(caught.value, "expected", "")), caught.value
