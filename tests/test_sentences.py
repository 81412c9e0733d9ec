"""The failure sentences the grader says, in the report's language (docs/i18n.md): a Sentence is
its English text and keeps its template and values apart, the record keeps them beside the
text (Failure.words), and a Korean report says them again from the catalogue."""

from __future__ import annotations

import ast
import copy
import gettext
import pickle

from harness import ROOT
from test_reports import mixed_record

from conformance.outcomes import Sentence, SpecFailure, one_after_another, plain
from conformance.record import Failure, SpecResult
from grading.render import present

MO = ROOT / "grading" / "render" / "locale" / "ko" / "LC_MESSAGES" / "ipc_grade.mo"  # test_i18n holds it to the .po


def test_a_sentence_is_its_english_text_and_keeps_its_parts():
    inner = Sentence("the child")
    said = Sentence("Close fd %(fd)s in %(who)s once it is done writing.", fd=4, who=inner)
    assert said == "Close fd 4 in the child once it is done writing." and isinstance(said, str)
    assert said.data() == {"template": "Close fd %(fd)s in %(who)s once it is done writing.",
                           "values": {"fd": 4, "who": {"template": "the child", "values": {}}}}
    for again in (copy.deepcopy(said), pickle.loads(pickle.dumps(said))):  # asdict copies; a worker pickles
        assert again == said and again.data() == said.data()
    # what crosses from a worker to the controller is the built-in str (execnet sends no other)
    sent = plain({"failure": {"observed": said, "evidence": [said, "plain"]}})
    assert type(sent["failure"]["observed"]) is str and all(type(e) is str for e in sent["failure"]["evidence"])
    assert one_after_another([inner, said], " ") == f"{inner} {said}" and one_after_another([], " ") == ""


def _spec(failure: Failure) -> SpecResult:
    rec = mixed_record()
    spec = next(s for s in rec.specs if s.id == "pipe.eof-on-close")
    spec.failure, spec.message = failure, failure.text()
    return spec


def test_a_failure_is_said_in_korean_from_its_words_and_in_english_as_it_was():
    child = Sentence("the child")
    exc = SpecFailure(
        Sentence("Once its stdin closed, %(program)s %(did_not_exit)s (child pid %(child)s).",
                 program=Sentence("your `%(program)s`", program="pipe relay"),
                 did_not_exit=Sentence("did not exit within %(seconds)s s", seconds="5"), child=4243),
        evidence=[Sentence("%(reader)s (pid %(pid)s) waits in read on fd %(fd)s (%(pipe)s)", reader=child, pid=4243, fd=3, pipe="pipe:[81]"),
                  "a line of plain text"],
        fix=Sentence("Close fd %(fd)s in %(who)s once it is done writing.", fd=4, who=child),
    )
    parts = exc.parts()
    assert parts.observed == "Once its stdin closed, your `pipe relay` did not exit within 5 s (child pid 4243)."
    assert set(parts.words) == {"observed", "evidence", "fix"} and parts.words["evidence"][1] is None
    spec = _spec(Failure.from_json(plain(copy.deepcopy(parts.__dict__))))  # as the record carries it
    english = present.failure(spec, "en")
    assert english.observed == parts.observed and english.fix == parts.fix
    korean = present.failure(spec, "ko")
    assert korean.observed == "표준 입력이 닫힌 뒤 여러분의 `pipe relay`는 5초 안에 종료하지 않았습니다(자식 pid 4243)."
    assert korean.evidence == ["pid 4243인 자식 프로세스가 fd 3(pipe:[81])에서 read로 기다립니다", "a line of plain text"]
    assert korean.fix == "자식 프로세스에서 쓰기를 마치면 fd 4를 닫으세요."  # 4 (사) takes 를
    assert "표준 입력이 닫힌 뒤" in present.message_text(spec.failure, "ko")


def test_a_sentence_the_catalogue_does_not_know_stays_english():
    unknown = Sentence("a sentence no catalogue has, about %(thing)s", thing="it")
    spec = _spec(SpecFailure(unknown, fix=Sentence("%(who)s printed %(what)s", who=Sentence("the parent"), what="x")).parts())
    korean = present.failure(spec, "ko")
    assert korean.observed == unknown
    assert korean.fix == "the parent printed x"  # an unknown template: all of it English, not half
    old = _spec(Failure(observed="a record from before sentences were kept"))
    assert present.failure(old, "ko").observed == "a record from before sentences were kept"


def _templates() -> dict[str, str]:
    """Every Sentence(...) call's template in conformance/, where it is."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "conformance").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Sentence":
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                first = node.args[0] if node.args else None
                if path.name == "outcomes.py" and isinstance(first, ast.Name):
                    continue  # Sentence's own module makes one again from its parts (pickling)
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), f"{where}: a Sentence's template must be a literal (the catalogue is extracted from it)"
                out[first.value] = where
    return out


def test_every_sentence_is_in_the_korean_catalogue():
    """A Sentence added to conformance/ without `scripts/i18n.py extract update`, and a Korean
    translation, would stay English in every Korean report: this fails first."""
    templates = _templates()
    assert len(templates) > 100
    with MO.open("rb") as f:
        translated = {k: v for k, v in gettext.GNUTranslations(f)._catalog.items() if isinstance(k, str) and "\x04" not in k}
    missing = {t: where for t, where in templates.items() if not translated.get(t)}
    assert not missing, f"not in the Korean catalogue (run scripts/i18n.py extract, update, translate, compile): {missing}"
