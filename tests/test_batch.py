"""`ipc-grade batch` and `merge` on a small class: a correct submission, the template, a
mutant in a zip, unsafe archives, and submissions that hang, flood their output and leak IPC
objects. Graded with a two-spec rubric so that the whole class takes seconds."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from harness import _env, interruptible, mutants

from conformance import locate
from grading import render
from grading.classwork import archives, submissions
from grading.classwork.shards import select_shard

RUBRIC = 'title = "batch test"\nmechanisms = []\n[spec."pipe.uses-pipe"]\n[spec."pipe.broken-pipe"]\nrequired = true\n'

HANG = "import time\nwhile True:\n    time.sleep(3600)\n"
FLOOD = "import os\nwhile True:\n    os.write(1, b'y' * 65536)\n"
LEAK = (
    "import os, sys, sysv_ipc\n"
    "for _ in range(20):\n"
    "    sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX)\n"
    "sys.stdout.buffer.write(sys.stdin.buffer.read())\n"
)


def impl(directory: Path, program: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "ipc.toml").write_text('[implementation]\nname = "x"\n\n[programs]\npipe = "python3 pipe.py"\n')
    (directory / "pipe.py").write_text(program)
    return directory


def zip_dir(source: Path, zip_path: Path, arcroot: str) -> None:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(source.rglob("*")):
            zf.write(p, f"{arcroot}/{p.relative_to(source)}")


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    """A class of submissions, one of each kind."""
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    subs.mkdir()
    shutil.copytree(locate.bundled("reference"), subs / "alice")
    shutil.copytree(locate.bundled("student_template"), subs / "bob")
    sigpipe = next(m for m in mutants() if m.id == "pipe/parent-dies-of-sigpipe").materialize(root)
    zip_dir(sigpipe, subs / "carol.zip", "my-ipc")  # a zip of a folder, not of its files
    impl(root / "hang", HANG)
    shutil.copytree(root / "hang", subs / "dan")
    impl(subs / "erin", FLOOD)
    impl(subs / "frank", LEAK)
    with tarfile.open(subs / "mallory.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("../../outside")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    (subs / "notes.txt").write_text("not a submission")
    (root / "rubric.toml").write_text(RUBRIC)
    return root


def run(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env())


def rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "gradebook.csv").open()))


@pytest.fixture(scope="module")
def graded(klass) -> tuple[Path, subprocess.CompletedProcess, float]:
    out = klass / "out"
    started = time.monotonic()
    proc = run("batch", "submissions", "--out", "out", "--jobs", "3", "--rubric", "rubric.toml", "--session-timeout", "120", cwd=klass)
    return out, proc, time.monotonic() - started


def test_every_submission_gets_a_row_sorted_by_id(graded):
    out, proc, _ = graded
    assert proc.returncode == 1, proc.stderr  # mallory's archive was not graded (docs/batch.md)
    assert "1 not graded to the end: mallory (bad-archive)" in proc.stderr
    book = rows(out)
    assert [r["id"] for r in book] == ["alice", "bob", "carol", "dan", "erin", "frank", "mallory"]
    assert list(book[0]) == ["id", "total", "max", "pipe", "status", "reason", "regrade", "failed_required"]
    by = {r["id"]: r for r in book}
    assert (by["alice"]["total"], by["alice"]["max"], by["alice"]["status"]) == ("4", "4", "graded")
    assert (by["bob"]["total"], by["bob"]["status"]) == ("0", "graded")
    assert (by["carol"]["total"], by["carol"]["pipe"]) == ("2", "2")  # graded from inside the zip's folder
    assert by["dan"]["total"] == "0" and by["erin"]["total"] == "0"
    assert by["mallory"]["status"] == "bad-archive" and "leaves its directory" in by["mallory"]["reason"]
    assert "notes.txt is neither a directory nor a zip or tar archive" in proc.stderr


def test_a_hanging_submission_costs_only_its_own_deadlines(graded):
    out, proc, elapsed = graded
    dan = json.loads((out / "submissions" / "dan" / "record.json").read_text())
    assert {s["status"] for s in dan["specs"]} <= {"timeout", "failed"} and dan["error"] is None
    # seven submissions, three at a time: a hang costs its own deadlines, not the class's
    assert elapsed < 120, elapsed


def test_leaked_ipc_objects_do_not_outlive_the_grading(graded):
    out, _, _ = graded
    frank = json.loads((out / "submissions" / "frank" / "record.json").read_text())
    assert frank["error"] is None
    assert not Path("/proc/sysvipc/msg").exists() or "outside" not in Path("/proc/sysvipc/msg").read_text()


def test_each_submission_gets_every_report(graded):
    out, _, _ = graded
    for ident in ("alice", "carol", "mallory"):
        names = sorted(p.name for p in (out / "submissions" / ident).iterdir())
        assert names == sorted(f.filename for f in render.FORMATS.values()), ident
    carol = json.loads((out / "submissions" / "carol" / "gradescope.json").read_text())
    assert carol["score"] == 2
    assert "ipc-batch-" not in json.dumps(carol)  # reports name the submission, not its private copy
    mallory = json.loads((out / "submissions" / "mallory" / "gradescope.json").read_text())
    assert mallory["score"] == 0 and "could not be graded" in mallory["output"]


def test_the_class_page_shows_pass_rates_distribution_and_breakage(graded):
    out, _, _ = graded
    page = (out / "class.html").read_text()
    assert "<svg" in page and "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert page.index("pipe.broken-pipe") < page.index("pipe.uses-pipe")  # hardest first
    assert "Submissions not graded to the end" in page
    listed = page[page.index("Submissions not graded to the end"):page.index("Every submission")]
    assert "mallory" in listed and "bad-archive" in listed and "alice" not in listed
    assert "None: every submission was graded to the end." not in page
    assert "7 submissions · 1 bad-archive · 6 graded" in page
    assert 'href="submissions/alice/report.html"' in page


def test_progress_is_plain_text_on_stderr(graded):
    _, proc, _ = graded
    lines = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 7 and lines[-1].startswith("[" + "#" * 30 + "] 7/7")
    assert "\x1b" not in proc.stderr
    # each line: the time so far, an estimate of the time left, and who is being graded now
    assert all(re.search(r"\(\d+ s[;)]", line) for line in lines), lines
    assert any("ETA " in line for line in lines[:-1]) and "ETA" not in lines[-1], lines
    assert any("grading " in line for line in lines[:-3]), lines


def test_shards_merge_into_the_same_gradebook(graded, klass):
    out, _, _ = graded
    for i in range(2):
        proc = run("batch", "submissions", "--out", f"shard{i}", "--jobs", "3", "--rubric", "rubric.toml", "--shard", f"{i}/2", cwd=klass)
        assert proc.returncode == (1 if i == 0 else 0), proc.stderr  # shard 0 holds mallory's bad archive
    ids = [[r["id"] for r in rows(klass / f"shard{i}")] for i in range(2)]
    assert ids == [["alice", "carol", "erin", "mallory"], ["bob", "dan", "frank"]]
    proc = run("merge", "shard0", "shard1", "--out", "merged", cwd=klass)
    assert proc.returncode == 0, proc.stderr
    # grading the same class again, in shards, gives the same gradebook and class page
    assert (klass / "merged" / "gradebook.csv").read_bytes() == (out / "gradebook.csv").read_bytes()
    assert (klass / "merged" / "class.html").read_bytes() == (out / "class.html").read_bytes()
    assert (klass / "merged" / "submissions" / "bob" / "report.html").is_file()
    # a shard merged twice, or a directory that is no shard, is refused
    again = run("merge", "shard0", "shard0", "--out", "merged2", cwd=klass)
    assert again.returncode == 2 and "is in both" in again.stderr
    missing = run("merge", "shard0", "submissions", "--out", "merged3", cwd=klass)
    assert missing.returncode == 2 and "has no batch.json" in missing.stderr
    partial = run("merge", "shard0", "--out", "merged4", cwd=klass)
    assert partial.returncode == 0 and "shards 1/2 are missing" in partial.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["batch", "nowhere", "--out", "o"], "is not a directory"),
        (["batch", "submissions", "--out", "o", "--shard", "2/2"], "I must be from 0 to N-1"),
        (["batch", "submissions", "--out", "o", "--shard", "x"], "write it as I/N"),
        (["batch", "submissions", "--out", "submissions/o"], "inside DIR"),
        (["batch", "submissions", "--out", "o", "--rubric", "nope.toml"], "no such file"),
        (["batch", "submissions", "--out", "o", "--jobs", "0"], "give 1 or more"),
    ],
)
def test_batch_usage_errors(klass, args, message):
    proc = run(*args, cwd=klass, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_ctrl_c_keeps_what_was_graded_and_writes_the_gradebook(tmp_path):
    """Ctrl-C in the middle of a class: the submission graded stays graded, the one under way
    stops (keeping what it reached) and the one not begun is not graded, both `interrupted`;
    the gradebook and class page are written, and the exit status is 130."""
    import os
    import signal

    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(locate.bundled("reference"), subs / "alice", ignore=shutil.ignore_patterns("c", "__pycache__"))
    impl(subs / "dan", HANG)
    shutil.copytree(subs / "alice", subs / "erin")
    (tmp_path / "rubric.toml").write_text(RUBRIC)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grading.cli", "batch", str(subs), "--out", str(out), "--jobs", "1", "--rubric", str(tmp_path / "rubric.toml")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), preexec_fn=interruptible)
    first = out / "submissions" / "alice" / "record.json"
    end = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert first.exists(), proc.communicate(timeout=60)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr and "--only dan erin" in stderr, stderr
    got = {r["id"]: r for r in rows(out)}
    assert {i: r["status"] for i, r in got.items()} == {"alice": "graded", "dan": "interrupted", "erin": "interrupted"}, got
    assert "before this submission's turn" in got["erin"]["reason"]
    assert (out / "class.html").exists() and (out / "submissions" / "dan" / "record.json").exists()


def test_a_corrupt_archive_is_counted_and_fails_the_batch(tmp_path):
    """A zip that is not one (a truncated upload): its row says why, the class page counts and
    lists it, and the batch exits 1 so that it is not missed."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    shutil.copytree(locate.bundled("student_template"), subs / "bob", ignore=shutil.ignore_patterns("c"))
    (subs / "zoe.zip").write_bytes(b"PK\x03\x04 cut short")
    (tmp_path / "rubric.toml").write_text(RUBRIC)
    proc = run("batch", "submissions", "--out", "out", "--jobs", "2", "--rubric", "rubric.toml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "1 not graded to the end: zoe (bad-archive)" in proc.stderr
    by = {r["id"]: r for r in rows(tmp_path / "out")}
    assert by["zoe"]["status"] == "bad-archive" and "cannot be unpacked" in by["zoe"]["reason"] and by["zoe"]["total"] == "0"
    assert by["bob"]["status"] == "graded"
    page = (tmp_path / "out" / "class.html").read_text()
    assert "2 submissions · 1 bad-archive · 1 graded" in page
    assert "zoe" in page[page.index("Submissions not graded to the end"):page.index("Every submission")]


# --- archives ------------------------------------------------------------------------------


def _zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777) << 16
            zf.writestr(info, target)
    return path


@pytest.mark.parametrize(
    "entries, links, message",
    [
        ({"../evil": b"x"}, {}, "leaves its directory"),
        ({"a/../../evil": b"x"}, {}, "leaves its directory"),
        ({"/etc/evil": b"x"}, {}, "absolute path"),
        ({"C:/evil": b"x"}, {}, "absolute path"),
        ({}, {"link": "/etc/passwd"}, "symbolic link"),
    ],
)
def test_unsafe_zips_are_refused_and_nothing_is_written(tmp_path, entries, links, message):
    archive = _zip(tmp_path / "s.zip", {"ipc.toml": b"", **entries}, links)
    with pytest.raises(archives.UnsafeArchive, match=message):
        archives.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()


def test_unsafe_tars_are_refused(tmp_path):
    for name, kind in (("abs", "/tmp/evil"), ("sym", "link"), ("dev", "dev")):
        path = tmp_path / f"{name}.tar"
        with tarfile.open(path, "w") as tf:
            info = tarfile.TarInfo(kind)
            if name == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            elif name == "dev":
                info.type = tarfile.CHRTYPE
            tf.addfile(info, io.BytesIO(b""))
        with pytest.raises(archives.UnsafeArchive):
            archives.unpack(path, tmp_path / f"out-{name}")


def test_an_archive_bomb_stops_at_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_BYTES", 1 << 20)
    archive = _zip(tmp_path / "bomb.zip", {"big": b"\0" * (4 << 20)})
    with pytest.raises(archives.UnsafeArchive, match="more than 1 MiB"):
        archives.unpack(archive, tmp_path / "out")


def test_a_folder_inside_an_archive_is_the_implementation(tmp_path):
    archive = _zip(tmp_path / "s.zip", {"__MACOSX/._x": b"", "work/ipc.toml": b"", "work/pipe.py": b"print()"})
    archives.unpack(archive, tmp_path / "out")
    assert archives.implementation_root(tmp_path / "out") == tmp_path / "out" / "work"
    assert archives.archive_stem("alice.tar.gz") == "alice" and archives.archive_stem("alice.py") is None


def test_shards_are_a_deterministic_partition():
    subs = [submissions.Submission(f"s{i:02d}", Path(f"s{i:02d}")) for i in range(11)]
    shards = [select_shard(list(reversed(subs)), i, 3) for i in range(3)]
    assert sorted(s.id for shard in shards for s in shard) == [s.id for s in subs]
    assert [s.id for s in shards[1]] == ["s01", "s04", "s07", "s10"]
