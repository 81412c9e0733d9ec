"""The reports in Korean (grading/render/i18n.py, docs/i18n.md): the catalogue is complete and
compiled, every format speaks it, the record stays language-neutral, particles agree with
their values, and the language is chosen as the README says (--lang, the rubric, the locale).

The catalogue check reads the .po itself (no Babel needed in the fast tier) and is shown to
fail on a planted untranslated, fuzzy and misplaced-placeholder entry.
"""

from __future__ import annotations

import gettext
import json
import re
from pathlib import Path

import pytest
from harness import ROOT, _env
from test_reports import mixed_record

from conformance.settings import language_of_locale
from grading import render
from grading.render import i18n
from grading.rubric import RubricError, SpecInfo, load

PO = ROOT / "grading" / "render" / "locale" / "ko" / "LC_MESSAGES" / "ipc_grade.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


# --- the catalogue -------------------------------------------------------------------------


def _unquote(line: str) -> str:
    return json.loads(line)


def entries(text: str) -> list[dict]:
    """The entries of a .po TEXT: flags, msgctxt, msgid, msgid_plural, msgstr (a list)."""
    out, cur, field = [], None, None
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if not line:
            if cur and "msgid" in cur:
                out.append(cur)
            cur, field = None, None
            continue
        cur = cur if cur is not None else {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            cur["flags"] |= {f.strip() for f in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if isinstance(field, int):
                cur["msgstr"][field] += _unquote(line)
            else:
                cur[field] += _unquote(line)
        else:
            key, _, value = line.partition(" ")
            m = re.fullmatch(r"msgstr\[(\d+)\]", key)
            if m or key == "msgstr":
                field = int(m[1]) if m else 0
                cur["msgstr"][field] = _unquote(value)
            else:
                field = key
                cur[key] = _unquote(value)
    return [e for e in out if e["msgid"]]


def problems(text: str) -> list[str]:
    """Untranslated and fuzzy entries, and translations whose placeholders are not the English ones."""
    out = []
    for e in entries(text):
        name = f"{e.get('msgctxt', '')}: {e['msgid']!r}"
        strings = list(e["msgstr"].values())
        if "fuzzy" in e["flags"]:
            out.append(f"fuzzy {name}")
        if not strings or not all(strings):
            out.append(f"untranslated {name}")
            continue
        ids = [e["msgid"]] + ([e["msgid_plural"]] if "msgid_plural" in e else [])
        want = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for s in strings:
            if set(PLACEHOLDER.findall(s)) != want:
                out.append(f"placeholders differ in {name}: {sorted(PLACEHOLDER.findall(s))} for {sorted(want)}")
            if s.count("%") - 2 * s.count("%%") != len(PLACEHOLDER.findall(s)):
                out.append(f"a stray % in the translation of {name}")
    return out


def test_the_korean_catalogue_is_complete_with_its_placeholders():
    found = problems(PO.read_text(encoding="utf-8"))
    assert not found, "\n".join(found[:40]) + f"\n({len(found)} problems: python scripts/i18n.py update, translate, compile)"


def test_the_check_catches_untranslated_fuzzy_and_wrong_placeholders():
    good = 'msgid "Total: %(total)s"\nmsgstr "총점: %(total)s"\n'
    assert problems(good) == []
    assert problems('msgid "Total: %(total)s"\nmsgstr ""\n')
    assert problems('#, fuzzy\nmsgid "Total: %(total)s"\nmsgstr "총점: %(total)s"\n')
    assert problems('msgid "Total: %(total)s"\nmsgstr "총점: %(totl)s"\n')
    assert problems('msgid "Total: %(total)s"\nmsgstr "총점: %(total)s %"\n')


def test_the_compiled_catalogue_is_the_po():
    """The .mo the wheel ships says what the .po says (python scripts/i18n.py compile)."""
    with (PO.with_suffix(".mo")).open("rb") as f:
        mo = gettext.GNUTranslations(f)
    stale = []
    for e in entries(PO.read_text(encoding="utf-8")):
        ctx = e.get("msgctxt")
        if not all(e["msgstr"].values()):
            continue  # untranslated: the other test says so
        if "msgid_plural" in e:
            got = mo.npgettext(ctx, e["msgid"], e["msgid_plural"], 2) if ctx else mo.ngettext(e["msgid"], e["msgid_plural"], 2)
        else:
            got = mo.pgettext(ctx, e["msgid"]) if ctx else mo.gettext(e["msgid"])
        if got != e["msgstr"][0]:
            stale.append(e["msgid"])
    assert not stale, stale[:10]


# --- every format in Korean ---------------------------------------------------------------

#: A word of each format's own chrome in Korean.
CHROME = {
    "text": ["총점", "무엇이 잘못되었나", "힌트", "소계"],
    "markdown": ["**총점:", "기대한 동작", "관찰된 동작", "### 무엇이 잘못되었나", "모든 스펙"],
    "html": ['lang="ko"', "기대한 동작", "관찰된 동작", "힌트", "메커니즘별"],
    "gradescope": ["상태:", "기대한 동작:", "관찰된 동작:"],
    "prairielearn": ["기대한 동작:", "힌트:", "총점"],
    "junit": ["기대한 동작:", "관찰된 동작:"],
}


@pytest.mark.parametrize("fmt", sorted(CHROME))
def test_every_format_speaks_korean_with_no_placeholder_left(fmt):
    english = render.render(fmt, mixed_record(), show_hidden=False)
    korean = render.render(fmt, i18n.rendered_in(mixed_record(), "ko"), show_hidden=False)
    for word in CHROME[fmt]:
        assert word in korean, (fmt, word)
        assert word not in english, (fmt, word)
    assert not re.search(r"%\(\w+\)|\{\w*\}", korean), re.findall(r".{20}(?:%\(\w+\)|\{\w*\}).{20}", korean)
    if fmt == "html":  # a font with Hangul before the generic family (every page has the stack)
        assert re.search(r'"Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", sans-serif', korean)
    for chrome in ("Expected:", "What went wrong", "Hint:", "What the kernel showed"):
        assert chrome not in korean, (fmt, chrome)


def test_the_record_stays_language_neutral_and_renders_again_in_english():
    rec = mixed_record()
    korean = i18n.rendered_in(rec, "ko")
    back = json.loads(render.render("json", korean))
    assert back["language"] == "ko"  # the language the reports were rendered in; nothing else changes
    assert [s["title"] for s in back["specs"]] == [s.title for s in rec.specs]  # titles stay the grader's English
    for fmt in CHROME:
        assert render.render(fmt, i18n.rendered_in(korean, "en")) == render.render(fmt, rec), fmt


def test_the_record_also_carries_what_each_spec_says_in_its_language():
    """A Korean record keeps its English data and adds each spec said in Korean (``said``); an
    English one has none, and a Korean record read back and written in English loses it."""
    from conformance import record as run_record
    from conformance.outcomes import Sentence, SpecFailure

    rec = mixed_record()
    failed = next(s for s in rec.specs if s.id == "pipe.eof-on-close")
    failed.failure = SpecFailure(Sentence("%(program)s exited but printed %(output)s.", program=Sentence("your `%(program)s`", program="pipe relay"),
                                          output="b''")).parts()
    failed.message = failed.failure.text()
    back = json.loads(render.render("json", i18n.rendered_in(rec, "ko")))
    said = back["said"]
    assert said["language"] == "ko" and set(said["specs"]) == {s.id for s in rec.specs}
    own = said["specs"][failed.id]
    assert own["message"] == "여러분의 `pipe relay`는 종료했지만 b''를 출력했습니다."
    assert own["title"] == i18n.translator("ko").title(failed)
    assert own["status"] == "실패"
    assert next(s for s in back["specs"] if s["id"] == failed.id)["message"] == failed.message  # the English stays
    assert "said" not in json.loads(render.render("json", rec))
    reread = run_record.RunRecord.from_json(back)
    assert "said" not in json.loads(render.render("json", i18n.rendered_in(reread, "en")))


def test_spec_titles_and_hints_are_translated_by_spec_id():
    from conformance.record import RunRecord, SpecResult

    spec = SpecResult(id="pipe.eof-on-close", mechanism="pipe", title="The relay finishes once its stdin closes: the child sees EOF on the pipe (pipe(7)).",
                      status="failed", points=0, max_points=3, hint="After fork, the child must close the write end and the parent the read end; "
                      "the parent closes the write end at EOF on stdin, then waits for the child.")
    rec = RunRecord(implementation={"path": "/x", "name": "x"}, specs=[spec], meta={"language": "ko"})
    text = render.render("text", rec)
    assert "자식" in text and "The relay finishes" not in text
    own = RunRecord(implementation={"path": "/x", "name": "x"}, specs=[SpecResult(**{**spec.__dict__, "hint": "a course's own hint"})], meta={"language": "ko"})
    assert "a course's own hint" in render.render("text", own)  # a rubric's hint is the instructor's words


# --- particles -----------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "written", "want"), [
    ("파이프", "을(를)", "를"), ("시그널", "을(를)", "을"), ("세마포어", "이(가)", "가"), ("소켓", "은(는)", "은"),
    ("파일", "(으)로", "로"), ("공유 메모리", "(으)로", "로"), ("메시지 큐", "와(과)", "와"), ("교착 상태", "와(과)", "와"), ("명령", "과(와)", "과"),
    ("SIGKILL", "이(가)", "이"), ("read", "을(를)", "를"), ("open", "을(를)", "을"), ("shm", "이(가)", "이"),
    ("1", "(으)로", "로"), ("1", "을(를)", "을"), ("7", "이(가)", "이"), ("3", "(으)로", "으로"), ("9", "은(는)", "는"), ("2", "이(가)", "가"), ("10", "이(가)", "이"), ("4096", "을(를)", "을"),
    ("fd 4", "을(를)", "를"), ("`pipe relay`", "이(가)", "가"), ("?", "을(를)", "을(를)"),
])
def test_a_particle_agrees_with_its_value(word, written, want):
    assert i18n.particle(word, written) == want


def test_a_translation_fills_its_particles_from_the_values():
    assert i18n.particles("%(name)s을(를) 닫으세요", {"name": "파이프"}) == "%(name)s를 닫으세요"
    assert i18n.particles("%(n)d(으)로", {"n": 3}) == "%(n)d으로"


# --- choosing the language -----------------------------------------------------------------


@pytest.mark.parametrize(("environ", "want"), [
    ({"LANG": "ko_KR.UTF-8"}, "ko"), ({"LANG": "C.UTF-8"}, "en"), ({}, "en"), ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "ko_KR.UTF-8"}, "ko"),
    ({"LANG": "ko_KR.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"), ({"LANGUAGE": "ko:en", "LANG": "en_US.UTF-8"}, "ko"), ({"LANG": "kok_IN"}, "en"),
])
def test_the_locale_chooses_the_default(environ, want):
    assert language_of_locale(environ) == want
    assert i18n.choose(None, None, environ) == want


def test_the_option_beats_the_rubric_which_beats_the_locale():
    assert i18n.choose("en", "ko", {"LANG": "ko_KR.UTF-8"}) == "en"
    assert i18n.choose(None, "ko", {"LANG": "C"}) == "ko"


def test_a_rubric_sets_the_reports_language(tmp_path):
    catalogue = [SpecInfo("pipe.eof-on-close", "pipe", 3.0, "")]
    path = tmp_path / "r.toml"
    path.write_text('language = "ko"\nmechanisms = ["pipe"]\n', encoding="utf-8")
    rubric = load(path, catalogue)
    assert rubric.language == "ko"
    assert rubric.apply(mixed_record()).meta["language"] == "ko"
    path.write_text('language = "fr"\n', encoding="utf-8")
    with pytest.raises(RubricError, match="language"):
        load(path, catalogue)


def test_ipc_grade_refuses_an_unknown_language(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "grading.cli", str(tmp_path), "--lang", "fr"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "--lang" in done.stderr and "en or ko" in done.stderr


def test_the_catalogue_ships_in_the_package():
    data = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "locale/*/LC_MESSAGES/*.mo" in data
    assert Path(i18n.LOCALE_DIR / "ko" / "LC_MESSAGES" / "ipc_grade.mo").is_file()


def test_a_record_renders_again_in_the_other_language(tmp_path):
    import subprocess
    import sys

    from conformance import record as run_record

    path = tmp_path / "record.json"
    run_record.write(path, i18n.rendered_in(mixed_record(), "en"))
    for lang in ("ko", "en"):
        out = tmp_path / f"report-{lang}.md"
        done = subprocess.run([sys.executable, "-m", "grading.render", str(path), "--lang", lang, "--markdown", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert out.read_text(encoding="utf-8") == render.render("markdown", i18n.rendered_in(run_record.load(path), lang))
    assert "기대한 동작" in (tmp_path / "report-ko.md").read_text(encoding="utf-8")
    assert "**Expected:**" in (tmp_path / "report-en.md").read_text(encoding="utf-8")


def test_a_rubric_in_korean_makes_the_kits_reports_korean(tmp_path):
    """The reports a course's platform shows (Gradescope through its kit's record, PrairieLearn)
    come out in the rubric's language, here for a submission that cannot be graded (no manifest:
    no grading run needed)."""
    import subprocess
    import sys

    rubric = tmp_path / "course.toml"
    rubric.write_text('title = "Lab"\nlanguage = "ko"\nmechanisms = ["pipe"]\n', encoding="utf-8")
    empty = tmp_path / "submission"
    empty.mkdir()
    done = subprocess.run([sys.executable, "-m", "grading.cli", str(empty), "--rubric", str(rubric), "-q", "--json", str(tmp_path / "r.json"),
                           "--prairielearn", str(tmp_path / "pl.json")], capture_output=True, text=True, env={**_env(), "LANG": "C.UTF-8"})
    assert done.returncode == 4, done.stderr
    assert "채점할 수 없었습니다" in done.stderr  # ipc-grade's own message, in the course's language
    record = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert record["language"] == "ko"
    assert "이 제출물은 채점할 수 없었습니다" in json.loads((tmp_path / "pl.json").read_text(encoding="utf-8"))["message"]
    kit = subprocess.run([sys.executable, "-m", "grading.kits.gradescope", str(tmp_path / "r.json"), "--out", str(tmp_path / "gs.json")],
                         capture_output=True, text=True)
    assert kit.returncode == 0, kit.stderr
    assert "이 제출물은 채점할 수 없었습니다" in json.loads((tmp_path / "gs.json").read_text(encoding="utf-8"))["output"]


def test_the_not_implemented_notes_are_korean_and_match_what_the_grader_says():
    korean = render.render("text", i18n.rendered_in(mixed_record(), "ko"))
    assert "- msgq (스펙 2개): 여러분의 `msgq recv` 프로그램이 not implemented라고 답합니다" in korean
    t = i18n.translator("ko")
    assert t.sentence('ipc.toml has no [programs] entry for rpc: add rpc = "<command>" to implement it').startswith("ipc.toml에 rpc의 [programs] 항목이 없습니다")
    assert t.sentence("the child (pid 4243) still holds the write end (fd 4)") == "the child (pid 4243) still holds the write end (fd 4)"  # not (yet) one of them
    # the sentences are read back from what conformance/ composes: a change there must change SENTENCES
    process = (ROOT / "conformance" / "run" / "process.py").read_text(encoding="utf-8")
    implementation = (ROOT / "conformance" / "run" / "implementation.py").read_text(encoding="utf-8")
    assert 'f"{self.label} says: not implemented"' in process
    assert 'f"{m.file} has no [programs] entry for {mechanism}: add "\n                f"{mechanism} = \\"<command>\\" to implement it"' in implementation


def test_pytest_impl_writes_its_reports_in_the_language_asked(tmp_path):
    """pytest --impl --ipc-lang: the grade table and every --ipc-FORMAT file (the template's pipe
    programs: nothing implemented, so nothing runs long); a language it does not know is a usage
    error naming pytest's option."""
    import subprocess
    import sys

    template = ROOT / "student_template"
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", "--impl", str(template), "--ipc-mechanism", "pipe"]
    done = subprocess.run([*base, "--ipc-lang", "ko", "--ipc-markdown", str(tmp_path / "r.md"), "--ipc-json", str(tmp_path / "r.json")],
                          capture_output=True, text=True, cwd=tmp_path, env=_env())
    assert "IPC 적합성 검사 점수" in done.stdout and "총점: 0/19" in done.stdout, done.stdout[-2000:]
    assert "**총점: 0/19**" in (tmp_path / "r.md").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["language"] == "ko"
    bad = subprocess.run([*base, "--ipc-lang", "fr"], capture_output=True, text=True, cwd=tmp_path, env=_env())
    assert bad.returncode == 4 and "invalid language 'fr' from --ipc-lang: give en or ko" in bad.stderr, bad.stderr


def test_the_terminal_report_fits_hangul_in_its_columns():
    """A Hangul syllable takes two columns of a terminal: a Korean report fitted to 60 columns has
    no line wider than 60 cells (a word wider than that aside), and an English one is fitted as before."""
    from grading.render.terminal import cell_len, fit
    from grading.render.terminal import render as terminal

    korean = terminal(i18n.rendered_in(mixed_record(), "ko"), columns=60)
    wide = [line for line in korean.splitlines() if cell_len(line) > 60 and " " in line.strip()]
    assert not wide, wide
    line = "    힌트: fork 뒤에 자식은 쓰기 끝을, 부모는 읽기 끝을 닫아야 합니다. 부모는 stdin에서 EOF를 만나면 쓰기 끝을 닫고 자식을 기다립니다."
    pieces = fit(line, 40)
    assert len(pieces) > 2 and all(cell_len(p) <= 40 for p in pieces) and pieces[1].startswith("      ")
    assert " ".join(p.strip() for p in pieces) == line.strip()


@pytest.mark.parametrize("case", ["unknown time", "no due date", "on time", "late", "past the limit", "submission limit", "rescaled"])
def test_the_late_limit_and_rescale_notes_are_said_in_korean(case, tmp_path):
    """The notes grading composes about the score itself (late.py's late policy and submission
    limit, the rubric's rescaled total), made by the code that makes them, read back in Korean in
    every report that shows them; in English they stay as written."""
    import datetime as dt

    from conformance.record import RunRecord, SpecResult
    from grading import late

    due = "" if case == "no due date" else "due = 2026-03-01T23:59:00+00:00\n"
    rubric = tmp_path / "r.toml"
    rubric.write_text(f'mechanisms = ["pipe"]\n{"total = 10" if case == "rescaled" else ""}\n[late]\n{due}penalty_per_day = 10\nmax_days = 3\n', encoding="utf-8")
    catalogue = [SpecInfo("pipe.eof-on-close", "pipe", 3.0, ""), SpecInfo("pipe.uses-pipe", "pipe", 2.0, "")]
    specs = [SpecResult(id="pipe.eof-on-close", mechanism="pipe", title="t", status="passed", points=3, max_points=3),
             SpecResult(id="pipe.uses-pipe", mechanism="pipe", title="t", status="unsupported" if case == "rescaled" else "passed", points=0, max_points=2)]
    rec = load(rubric, catalogue).apply(RunRecord(implementation={"path": "/x", "name": "x"}, specs=specs))
    utc = dt.UTC
    when = {"unknown time": None, "on time": dt.datetime(2026, 3, 1, 12, tzinfo=utc), "past the limit": dt.datetime(2026, 3, 9, tzinfo=utc)}
    if case == "submission limit":
        rec.meta["rubric"]["submission_limit"] = 2
        prior = [(dt.datetime(2026, 2, 1, tzinfo=utc), 4.0), (dt.datetime(2026, 2, 2, tzinfo=utc), 5.0)]
        rec = late.apply_gradescope(rec, late.Metadata(dt.datetime(2026, 2, 3, tzinfo=utc), None, prior))
    elif case != "rescaled":
        rec = late.apply(rec, when.get(case, dt.datetime(2026, 3, 3, 1, tzinfo=utc)), source="Gradescope")
    note = (rec.meta.get("late") or {}).get("note") or rec.meta["rubric"]["rescaled"]
    english = ("Late", "On time", "Submission limit", "could not be judged", "penalty", "submitted")
    for fmt in ("text", "markdown", "html", "gradescope", "prairielearn"):
        ko = render.render(fmt, i18n.rendered_in(rec, "ko"))
        assert not [w for w in english if w in ko], (fmt, note, [w for w in english if w in ko])
    assert note in render.render("text", rec)  # English: as late.py and rubric.py wrote it
    said = i18n.translator("ko").sentence(note)
    assert said != note and not PLACEHOLDER.search(said), said


# --- the check that a Korean report has no English sentence (tests/korean.py) -------------------


def test_the_korean_check_finds_english_sentences_and_allows_code_names_and_values():
    from korean import english_sentences

    assert english_sentences("자식 프로세스가 the child still holds the write end를 엽니다") == ["the child still holds the write end"]
    assert english_sentences("its stdin, from the grader") == ["its stdin, from the grader"]
    allowed = ("여러분의 `pipe relay`가 fd 3(pipe:[81])에서 read로 기다립니다; 'before close\\n', b'\\x00ab' 출력; "
               "pipe.eof-on-close 스펙; /tmp/ipc-x/reference/pipe.py 파일; SIGKILL로 EOF; https://example.com/a b c 참고\n"
               "    $ python3 pipe.py relay --size 3\n실행: kill -TERM 4243; 00 01 02 03 04 바이트")
    assert english_sentences(allowed) == []


def test_the_korean_check_fails_an_untranslated_report_in_every_format():
    """A record whose failures are plain English (no words, as a record from before sentences were
    kept): every format's Korean rendering shows English sentences, and the check names them."""
    from korean import english_in_korean

    found = english_in_korean(mixed_record())
    assert set(found) == set(render.FORMATS) - {"json"}, found


def test_why_a_spec_is_unsupported_is_said_in_korean(monkeypatch):
    """What a student in a container reads for a spec the machine cannot run (two hosts need
    network namespaces; strace; a source of evidence): the toolbox's own reasons, made by its own
    code here, are Korean in every format."""
    from korean import english_in_korean

    from conformance.kernel import observe
    from conformance.outcomes import Unsupported
    from conformance.record import RunRecord, SpecResult
    from conformance.run import trace
    from conformance.specs.support import peers

    reasons = []
    monkeypatch.setattr(peers, "_missing_caps", lambda: ["CAP_SYS_ADMIN"])
    with pytest.raises(Unsupported) as caps:
        with peers.netns_pair("t"):
            pass
    reasons.append(str(caps.value))
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    with pytest.raises(Unsupported) as no_ip:
        with peers.netns_pair("t"):
            pass
    reasons.append(str(no_ip.value))
    monkeypatch.setattr(trace, "strace_path", lambda: None)
    reasons.append(trace.unavailable_reason(None))
    reasons.append(str(observe.EvidenceUnavailable("syscall", "permission denied, even to the process's own user")))
    specs = [SpecResult(f"socket.why-{i}", "socket", "t", "unsupported", 0, 1, message=r) for i, r in enumerate(reasons)]
    rec = RunRecord(implementation={"path": "/x", "name": "x"}, specs=specs)
    assert english_in_korean(rec) == {}, reasons
    assert "CAP_SYS_ADMIN" in render.render("junit", i18n.rendered_in(rec, "ko"))  # the values stay
