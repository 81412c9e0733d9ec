"""What a Korean report says outside the failure sentences (issue 30): the transcripts' own
lines, the header's isolation and run-as words, a manifest that cannot be used, a failed build.

conformance/ says them as Sentences and the record keeps their words (its ``words``, a build's
``words``, a spec's failure ``words``: docs/run-record.md); a transcript is said again from the
values the record keeps. English stays byte for byte what it was; a record without words (from
before) renders as it did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import ROOT

from conformance import record as run_record
from conformance.outcomes import Sentence, SpecFailure
from conformance.run import isolation, manifest
from conformance.run.capture import hexdump
from grading.cli import session
from grading.render import i18n, terminal
from grading.render.present import label_said, message_text, transcript_text
from grading.rubric import SpecInfo

KO = i18n.translator("ko")


def _transcript(**changes) -> run_record.Transcript:
    fields = dict(command="python3 pipe.py relay", label=Sentence("your `%(program)s`", program="pipe relay"), pid=41, stdin_bytes=13,
                  stdout="before close\\n", stdout_bytes=13, stderr="", stderr_bytes=0, status="exited with status 1")
    return run_record.Transcript(**{**fields, **changes})


# --- the transcripts -------------------------------------------------------------------------


def test_a_transcript_is_said_in_korean_and_stays_as_it_was_in_english():
    tr = _transcript()
    assert transcript_text(tr, "en") == tr.text() == (
        "    $ python3 pipe.py relay   (your `pipe relay`, pid 41)\n    stdin: 13 bytes written\n"
        "    stdout (13 bytes): before close\\n\n    stderr: (empty)\n    exited with status 1")
    assert transcript_text(tr, "ko") == (
        "    $ python3 pipe.py relay   (여러분의 `pipe relay`, pid 41)\n    stdin: 13바이트 씀\n"
        "    stdout(13바이트): before close\\n\n    stderr: (비어 있음)\n    종료 상태 1로 종료했습니다")


def test_a_transcripts_binary_output_stdin_note_and_signal_are_said_in_korean():
    dump = hexdump(bytes(range(64)))
    tr = _transcript(stdout=dump, stdout_bytes=64, stdin_note="writing stdin failed after 4096 bytes: the program had closed its stdin, or exited (EPIPE)",
                     status="killed by signal 9 (SIGKILL)", label="your `socket server` on host 10.0.0.1")
    said = transcript_text(tr, "ko")
    assert "(호스트 10.0.0.1의 여러분의 `socket server`, pid 41)" in said
    assert "stdin: stdin에 4096바이트를 쓴 뒤 쓰기가 실패했습니다: 프로그램이 stdin을 닫았거나 종료했습니다(EPIPE)" in said
    assert "stdout(64바이트): 바이너리, 64바이트: 0000: 00 01 02" in said
    assert "시그널 9(SIGKILL)에 의해 종료되었습니다" in said
    assert not any(word in said for word in ("bytes", "binary", "written", "killed", "your"))


def test_the_programs_output_and_unknown_labels_stay_as_written():
    tr = _transcript(stdout="binary, 3 bytes: not a dump", stdout_bytes=5, label="the strace probe")
    said = transcript_text(tr, "ko")
    assert "(strace 점검 프로그램, pid 41)" in said
    assert label_said("a helper of a spec", KO) == "a helper of a spec"
    assert label_said("the reference `fifo read` (under strace)", KO) == "참조 구현의 `fifo read`(strace 아래에서)"


def test_the_failures_text_in_korean_has_its_transcripts_in_korean():
    failure = SpecFailure("observed").parts([_transcript()])
    assert "stdin: 13 bytes written" in message_text(failure, "en")
    assert "stdin: 13바이트 씀" in message_text(failure, "ko")


# --- the header --------------------------------------------------------------------------


def _record(**meta) -> run_record.RunRecord:
    return run_record.RunRecord(implementation={"path": "/x", "name": "x"}, specs=[], meta=meta)


def test_the_isolation_and_run_as_words_are_said_in_korean_from_the_records_words():
    isolated = isolation._with(isolation.NAMESPACES, "loopback only")
    assert isolated == "private IPC namespace and /dev/shm (per-run names and keys inside), and a private network (loopback only)"
    assert isolation._with(isolation.IPC_NAMESPACE, "without loopback") == "private IPC namespace (per-run names in /dev/shm), a private network without loopback"
    assert isolation._with(isolation.PER_RUN_NAMES, "") == "per-run names and keys"
    run_as = Sentence("an unprivileged user id per grading process")
    data = json.loads(json.dumps({"isolation": isolated, "programs_run_as": run_as, "words": {"isolation": isolated.data(), "programs_run_as": run_as.data()}}))
    rec = _record(**data, language="ko")
    text = terminal.render(rec)
    assert "격리: 전용 IPC 네임스페이스와 /dev/shm(그 안에서도 실행마다 다른 이름과 키), 그리고 전용 네트워크(루프백만)" in text
    assert "프로그램 실행 사용자: 채점 프로세스마다 권한 없는 사용자 ID 하나" in text
    assert "Isolation: " + isolated in terminal.render(i18n.rendered_in(rec, "en"))
    old = _record(isolation=str(isolated), language="ko")  # a record from before words were kept: as written
    assert "격리: " + isolated in terminal.render(old)


# --- a manifest that cannot be used, a build that failed ----------------------------------


def test_a_manifests_problems_are_sentences_that_cross_to_a_worker_as_plain_data(tmp_path):
    (tmp_path / "ipc.toml").write_text('[programz]\npipe = "x"\n[implementation]\nnam = "y"\n')
    m = manifest.load(tmp_path, sys.executable, "ipc-grade")
    assert m.error == (f"unknown section [programz] in {tmp_path}/ipc.toml: did you mean 'programs'? the sections are [implementation] and [programs]; "
                       f"unknown key 'implementation.nam' in {tmp_path}/ipc.toml: did you mean 'name'? the keys of [implementation] are name, build")
    data = m.to_data()
    assert type(data["error"]) is str and json.loads(json.dumps(data)) == data
    again = manifest.Manifest.from_data(data)
    assert isinstance(again.error, Sentence) and again.error == m.error and again.error.data() == m.error.data()
    said = KO.said(m.error, m.error.data())
    assert "알 수 없는 섹션이 있습니다: [programz]" in said and "unknown" not in said


def test_a_missing_manifest_is_said_in_korean_when_ipc_grade_cannot_grade(tmp_path):
    out = subprocess.run([sys.executable, "-m", "grading.cli", str(tmp_path), "--lang", "ko", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 4
    assert f"매니페스트가 없습니다: {tmp_path}/ipc.toml이(가) 없습니다" not in out.stderr  # the particle agrees with the value
    assert f"매니페스트가 없습니다: {tmp_path}/ipc.toml이 없습니다(`ipc-grade new DIR`이 템플릿에서 하나를 만들어 줍니다)" in out.stderr, out.stderr
    english = subprocess.run([sys.executable, "-m", "grading.cli", str(tmp_path), "--lang", "en", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert f"no manifest: {tmp_path}/ipc.toml does not exist (`ipc-grade new DIR` starts one from the template)" in english.stderr


def test_the_specs_of_an_unusable_manifest_say_it_in_korean(tmp_path):
    m = manifest.load(tmp_path, sys.executable, "ipc-grade")

    class Known:  # the catalogue, as grader.CatalogueQuestion answers it
        def answer(self, wait):
            return [SpecInfo(id="pipe.uses-pipe", mechanism="pipe", points=1.0, title="uses a pipe")]

    rec = session._unusable({"path": str(tmp_path), "name": "t"}, str(m.error), None, Known(), 0.0, m.error.data())
    assert rec.error == m.error and rec.meta["words"]["error"] == m.error.data()
    assert rec.specs[0].message == f"the manifest cannot be used: {m.error}" == message_text(rec.specs[0].parts, "en")
    said = message_text(rec.specs[0].parts, "ko")
    assert said.startswith("매니페스트를 쓸 수 없습니다: 매니페스트가 없습니다: ") and "no manifest" not in said
    text = terminal.render(i18n.rendered_in(rec, "ko"))
    assert "매니페스트가 없습니다" in text and "no manifest" not in text
    assert terminal.render(i18n.rendered_in(rec, "en")) == terminal.render(run_record.RunRecord.from_json(json.loads(json.dumps(rec.to_json()))))


def test_a_failed_builds_status_and_cost_are_said_in_korean():
    m = manifest.Manifest(root=Path("/sub"), build="make")
    build = {"command": "make", "ok": False, "status": Sentence("exited with status %(code)s", code=2), "log": "", "cost": ["pipe"]}
    problem = manifest.build_problem(m, build, "pipe", Sentence("the build did not make %(program)s", program="./pipe"))
    assert problem == ("not graded: the build did not make ./pipe, because the build `make` ('implementation.build' in /sub/ipc.toml) exited with status 2; "
                       "its output is at the top of the report")
    assert KO.said(problem, problem.data()) == ("채점되지 않았습니다: 빌드가 ./pipe를 만들지 않았습니다. 빌드 `make`(/sub/ipc.toml의 'implementation.build')의 결과: "
                                                "종료 상태 2로 종료했습니다. 빌드 출력은 보고서 맨 위에 있습니다")
    rec = _record(build={**build, "status": str(build["status"]), "words": {"status": build["status"].data()}}, language="ko")
    assert "빌드가 실패했습니다(`make`): 종료 상태 2로 종료했습니다." in terminal.render(rec)


# --- the class page of a Korean course ---------------------------------------------------------


def _class(language: str) -> list:
    from grading.classwork.gradebook import Entry

    spec = run_record.SpecResult(id="pipe.uses-pipe", mechanism="pipe", title="The relay uses a pipe(2) to talk to its child.", status="failed", points=0.0, max_points=2.0)
    ok = run_record.RunRecord(implementation={"path": "/a", "name": "a"}, specs=[spec], meta={"language": language})
    error = Sentence("no manifest: %(file)s does not exist (%(start)s)", file="/b/ipc.toml", start=manifest.TEMPLATE_HINT)
    bad = run_record.RunRecord(implementation={"path": "/b", "name": "b"}, specs=[spec], error=str(error),
                               meta={"language": language, "error_kind": "session-timeout", "words": {"error": error.data()}})
    return [Entry("alice", ok), Entry("bob", bad)]


def test_the_class_page_of_a_korean_course_is_korean_and_the_english_one_is_as_it_was():
    from grading.classwork import classpage

    page = classpage.render(_class("ko"), title="IPC")
    for said in ("<html lang=\"ko\">", "수업 보고서: IPC", "제출물 2개", "점수 분포", "스펙(어려운 것부터)", "끝까지 채점되지 않은 제출물", "모든 제출물",
                 "매니페스트가 없습니다: /b/ipc.toml이 없습니다", "재채점 요청", "<code>ipc-grade batch SUBMISSIONS --out OUT --only ID</code>"):
        assert said in page, said
    assert "Class report" not in page and "Score distribution" not in page and "no manifest" not in page
    english = classpage.render(_class("en"), title="IPC")
    for said in ("<html lang=\"en\">", "Class report: IPC", "2 submissions · ", "Score distribution", "Specs, hardest first", "pipe: % of its maximum",
                 "no manifest: /b/ipc.toml does not exist (copy student_template/ipc.toml as a starting point)",
                 "it counts 0 points until you regrade the submission (<code>ipc-grade batch SUBMISSIONS --out OUT --only ID</code>).</p>",
                 "score (% of the maximum)", "The relay uses a pipe(2) to talk to its child."):
        assert said in english, said


# --- a run stopped before its end ----------------------------------------------------------


def test_an_interrupted_or_cut_short_run_says_why_in_korean():
    spec = run_record.SpecResult(id="pipe.uses-pipe", mechanism="pipe", title="", status="passed", points=1.0, max_points=1.0)
    partial = run_record.RunRecord(implementation={"path": "/a", "name": "a"}, specs=[spec], meta={"partial": True})
    rec = session.interrupted(partial, partial.implementation, 3, None, 0.0)
    assert rec.meta["interrupt_note"] == "the grading was interrupted (Ctrl-C) after 1 of 3 specs: the score counts only the specs decided; the other 2 were not graded"
    said = terminal.render(i18n.rendered_in(rec, "ko"))
    assert "경고: 스펙 3개 중 1개가 판정된 뒤 채점이 중단되었습니다(Ctrl-C): 점수는 판정된 스펙만 셉니다; 나머지 2개는 채점되지 않았습니다" in said
    nothing = session.interrupted(None, partial.implementation, None, None, 0.0)
    assert "아무것도 채점되지 않았습니다" in terminal.render(i18n.rendered_in(nothing, "ko"))
    reason = "the grading run did not finish within 60 s and was stopped"
    cut = session._cut_short(partial, reason, None, "pipe", 61.0, session._stopped_words(60))
    assert cut.meta["session_note"] == reason and "경고: 채점 실행이 60초 안에 끝나지 않아 중지되었습니다" in terminal.render(i18n.rendered_in(cut, "ko"))
    assert "WARNING: " + reason in terminal.render(i18n.rendered_in(cut, "en"))


def test_a_spec_that_ran_out_of_its_time_budget_says_so_in_korean():
    import signal as signals
    from types import SimpleNamespace

    import pytest
    from _pytest.outcomes import Failed
    from pytest_timeout import PYTEST_FAILURE_MESSAGE

    from conformance.plugin import verdict

    item = SimpleNamespace(stash=pytest.Stash(), funcargs={})
    before = signals.signal(signals.SIGALRM, lambda signum, frame: pytest.fail(PYTEST_FAILURE_MESSAGE % 75))
    try:
        verdict.watch_interruption(item)
        with pytest.raises(Failed) as interrupted:
            signals.raise_signal(signals.SIGALRM)
    finally:
        signals.signal(signals.SIGALRM, before)
    report = SimpleNamespace(when="call", passed=False)
    _, message = verdict._status(item, report, SimpleNamespace(excinfo=SimpleNamespace(value=interrupted.value)))
    failure = verdict._failure(item, interrupted.value, message)
    assert message_text(failure, "en") == "the spec ran out of its time budget (Timeout (>75s) from pytest-timeout.)"
    assert message_text(failure, "ko") == "스펙이 주어진 시간을 다 썼습니다(Timeout (>75s) from pytest-timeout.)"


def test_the_schedules_guarantee_is_said_in_korean_from_its_words():
    from conformance.run.schedule import control

    record = {"seed": "0x7819", "schedules": 36, "depths": {"0": 18, "1": 5, "2": 5}, "tasks": 2, "processes": 2, "choices": 40020,
              "bounds": {"1": 0.96875, "2": 6.2e-05}, "control": "points"}
    control.state_guarantee(record)
    assert record["guarantee"] == ("36 schedules (seed 0x7819) of 2 processes and up to 40020 scheduling points explored, every one passed: "
                                   "by PCT's bound, a race of depth 1 is found with probability at least 0.968, one of depth 2 with probability at least 0.000062.")
    spec = run_record.SpecResult(id="shm.counter-exact", mechanism="shm", title="", status="passed", points=1.0, max_points=1.0,
                                 schedule=json.loads(json.dumps(record)))
    rec = run_record.RunRecord(implementation={"path": "/a", "name": "a"}, specs=[spec], meta={"language": "ko"})
    assert ("shm.counter-exact의 스케줄: 스케줄 36개(시드 0x7819): 프로세스 2개, 스케줄링 지점 최대 40020개에 대해 탐색했고, 모두 통과했습니다: "
            "PCT의 한계에 따르면 깊이 1의 경쟁 조건은 최소 0.968의 확률로 찾고, 깊이 2의 경쟁 조건은 최소 0.000062의 확률로 찾습니다.") in terminal.render(rec)
    assert "Schedules of shm.counter-exact: " + record["guarantee"] in terminal.render(i18n.rendered_in(rec, "en"))
