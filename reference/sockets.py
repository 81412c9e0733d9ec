"""Reference `socket`: TCP, UDP and Unix-domain sockets (contract section 3).

    socket tcp-server [--host H] [--port P]    echo server; prints `listening PORT`
    socket tcp-client HOST PORT                stdin -> server, server -> stdout
    socket udp-server [--host H] [--port P]    echoes each datagram to its sender
    socket udp-client HOST PORT                one datagram per line, one line per reply
    socket unix-server PATH                    as tcp-server, on a Unix stream socket at PATH
    socket unix-client PATH                    as tcp-client, to the server at PATH

The seeds' point about sockets: unlike every other IPC here, a socket is an endpoint named by
an address and a port, so the peer may be on another machine (socket(7), tcp(7), udp(7),
unix(7)). The habits that make it work:

- A stream has no message boundaries: one recv(2) returns whatever has arrived, so read until
  recv returns 0 (the peer's EOF), never assume one call returns everything.
- Send and receive at the same time: a client that sends everything before it reads stops once
  the socket buffers fill in both directions (the server cannot send, so it stops reading).
- Half-close with shutdown(SHUT_WR) to tell the peer "no more data" while still reading.
- A server serves each client in its own thread, and closes each connection when it is done.
- SO_REUSEADDR lets a restarted server bind its port while old connections linger (TIME_WAIT).
- A datagram is a message: one sendto(2) is one recvfrom(2), never merged or split.
"""

import os
import signal
import socket
import stat
import sys
import threading
import time

CHUNK = 1 << 16
BACKLOG = 128
#: How long the UDP client waits for each reply (the contract's 2 seconds).
UDP_TIMEOUT = 2.0
#: Large enough for any UDP datagram (the IPv4 maximum payload is 65507 bytes).
MAX_DATAGRAM = 1 << 16


class Failure(Exception):
    """An error the program reports with a one-line reason on stderr and exit status 1."""


def fail(message, code=1):
    sys.stderr.write(f"socket: {message}\n")
    sys.stderr.flush()
    return code


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def exit_on_signals():
    """SIGTERM (and SIGINT, SIGHUP) end a server with status 0, running its `finally` clauses."""

    def stop(signum, frame):
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)


def address(host, port, kind, passive=False):
    """(family, sockaddr) for HOST and PORT: IPv4 or IPv6, a name or a literal address."""
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE if passive else 0)
    except socket.gaierror as exc:
        raise Failure(f"cannot resolve {host}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


# --- stream servers (TCP and Unix) --------------------------------------------------------


def echo(conn):
    """Echo everything CONN sends until its EOF, then close the connection."""
    with conn:  # closing here is what keeps a long-running server from leaking descriptors
        try:
            while True:
                data = conn.recv(CHUNK)
                if not data:  # the client's EOF: it has sent everything
                    break
                conn.sendall(data)  # blocks while the client does not read: back-pressure
        except OSError:
            pass  # the client reset the connection; nothing to echo to any more


def serve_stream(listener):
    """Accept clients for ever, each served by its own thread, so one idle client blocks no other."""
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def tcp_server(host, port):
    family, sockaddr = address(host, port, socket.SOCK_STREAM, passive=True)
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        # without it, bind fails with EADDRINUSE while the last run's connections linger
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(sockaddr)
        except OSError as exc:
            raise Failure(f"cannot bind {host}:{port}: {exc.strerror}") from None
        listener.listen(BACKLOG)
        print(f"listening {listener.getsockname()[1]}", flush=True)
        serve_stream(listener)


def remove_stale(path):
    """Remove a socket file at PATH that no server listens on; refuse anything else there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise Failure(f"{path} exists and is not a socket; not replacing it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # nobody listens: a stale file from a server that died
            os.unlink(path)
            return
        except OSError as exc:
            raise Failure(f"cannot check the socket at {path}: {exc.strerror}") from None
    raise Failure(f"another server is listening at {path}")


def unix_server(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        remove_stale(path)
        try:
            listener.bind(path)
        except OSError as exc:
            raise Failure(f"cannot bind {path}: {exc.strerror}") from None
        bound = os.lstat(path).st_ino
        try:
            listener.listen(BACKLOG)
            print(f"listening {path}", flush=True)
            serve_stream(listener)
        finally:  # on SIGTERM too (exit_on_signals): leave no socket file behind
            try:
                if os.lstat(path).st_ino == bound:  # only our own file, never a successor's
                    os.unlink(path)
            except FileNotFoundError:
                pass


# --- stream clients -----------------------------------------------------------------------


def stream_client(sock):
    """Send stdin from a thread while this one copies the replies to stdout, then half-close.

    Sending and receiving at once is what lets a payload of any size through: the server
    echoes while we still send, and somebody must read those echoes meanwhile.
    """
    errors = []

    def send_stdin():
        try:
            while True:
                data = os.read(0, CHUNK)
                if not data:
                    break
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # EOF for the server; we still read its replies
        except OSError as exc:
            errors.append(exc)

    sender = threading.Thread(target=send_stdin, daemon=True)
    sender.start()
    try:
        while True:
            data = sock.recv(CHUNK)
            if not data:  # the server closed its side: everything has come back
                break
            write_all(1, data)
    except BrokenPipeError:
        return fail("broken pipe: stdout was closed")
    except OSError as exc:
        return fail(f"receiving failed: {exc.strerror or exc}")
    # the server may end the connection while stdin is still open: do not wait for stdin then
    if not sender.is_alive():
        sender.join()
    if errors:
        return fail(f"sending failed: {errors[0].strerror or errors[0]}")
    return 0


def tcp_client(host, port):
    family, sockaddr = address(host, port, socket.SOCK_STREAM)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(sockaddr)
        except ConnectionRefusedError:
            raise Failure(f"connection refused by {host}:{port}") from None
        except OSError as exc:
            raise Failure(f"cannot connect to {host}:{port}: {exc.strerror}") from None
        return stream_client(sock)


def unix_client(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except ConnectionRefusedError:
            raise Failure(f"connection refused at {path}") from None
        except OSError as exc:
            raise Failure(f"cannot connect to {path}: {exc.strerror}") from None
        return stream_client(sock)


# --- UDP ----------------------------------------------------------------------------------


def udp_server(host, port):
    family, sockaddr = address(host, port, socket.SOCK_DGRAM, passive=True)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise Failure(f"cannot bind {host}:{port}: {exc.strerror}") from None
        print(f"listening {sock.getsockname()[1]}", flush=True)
        while True:
            data, sender = sock.recvfrom(MAX_DATAGRAM)  # one datagram, whole
            try:
                sock.sendto(data, sender)
            except OSError:
                pass  # the sender is gone; serve the next one


def udp_client(host, port):
    family, sockaddr = address(host, port, socket.SOCK_DGRAM)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        stdin = sys.stdin.buffer
        while True:
            line = stdin.readline()
            if not line:
                return 0
            if line.endswith(b"\n"):
                line = line[:-1]
            try:
                sock.sendto(line, sockaddr)  # one line, one datagram
            except OSError as exc:
                raise Failure(f"sending to {host}:{port} failed: {exc.strerror}") from None
            write_all(1, receive_reply(sock, sockaddr) + b"\n")


def receive_reply(sock, server):
    """The next datagram from SERVER, waiting at most UDP_TIMEOUT in all."""
    deadline = UDP_TIMEOUT
    while True:
        sock.settimeout(deadline)
        started = time.monotonic()
        try:
            data, sender = sock.recvfrom(MAX_DATAGRAM)
        except TimeoutError:
            raise Failure(f"timeout: no reply within {UDP_TIMEOUT:g} seconds") from None
        except OSError as exc:
            raise Failure(f"receiving failed: {exc.strerror}") from None
        if sender[:2] == server[:2]:
            return data
        deadline = max(0.0, deadline - (time.monotonic() - started))  # a stray datagram: keep waiting
        if deadline == 0.0:
            raise Failure(f"timeout: no reply within {UDP_TIMEOUT:g} seconds")


# --- command line -------------------------------------------------------------------------

USAGE = (
    "usage: socket tcp-server [--host H] [--port P] | socket tcp-client HOST PORT | "
    "socket udp-server [--host H] [--port P] | socket udp-client HOST PORT | "
    "socket unix-server PATH | socket unix-client PATH"
)


class Usage(Exception):
    pass


def port_number(text):
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise Usage(f"bad port {text!r}: expected 0 to 65535")
    return int(text)


def server_options(args):
    host, port = "127.0.0.1", 0
    rest = list(args)
    while rest:
        option = rest.pop(0)
        if option not in ("--host", "--port") or not rest:
            raise Usage(f"unexpected {option!r}")
        value = rest.pop(0)
        if option == "--host":
            host = value
        else:
            port = port_number(value)
    return host, port


def main(argv):
    # never die of SIGPIPE on a connection the peer closed: get EPIPE instead (contract section 2)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    role, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if role in ("tcp-server", "udp-server"):
            host, port = server_options(args)
            exit_on_signals()
            return (tcp_server if role == "tcp-server" else udp_server)(host, port)
        if role in ("tcp-client", "udp-client"):
            if len(args) != 2:
                raise Usage(f"{role} takes HOST PORT")
            return (tcp_client if role == "tcp-client" else udp_client)(args[0], port_number(args[1]))
        if role in ("unix-server", "unix-client"):
            if len(args) != 1 or not args[0]:
                raise Usage(f"{role} takes PATH")
            if role == "unix-server":
                exit_on_signals()
                return unix_server(args[0])
            return unix_client(args[0])
        raise Usage(f"unknown role {role!r}")
    except Usage as exc:
        return fail(f"{exc}\n{USAGE}", 2)
    except Failure as exc:
        return fail(str(exc))
    except BrokenPipeError:
        return fail("broken pipe: stdout was closed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
