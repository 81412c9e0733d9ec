"""Spec metadata is declared once, on the spec, and checked at collection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.spec import spec, validate_items


class FakeItem:
    """Just what validate_items reads from a pytest item."""

    def __init__(self, function, nodeid=None, parametrized=False):
        self.function = function
        self.nodeid = nodeid or f"specs/test_x.py::{function.__name__}"
        self.callspec = object() if parametrized else None

    def iter_markers(self, name):
        return [m for m in getattr(self.function, "pytestmark", []) if m.name == name]


def make(spec_id="pipe.eof-on-close", doc="The relay finishes once stdin closes.", **kwargs):
    def test_x():
        pass

    test_x.__doc__ = doc
    return spec(spec_id, **kwargs)(test_x)


def test_good_metadata():
    (meta,) = validate_items([FakeItem(make(points=2, hint="close it", timeout=30))])
    assert (meta.id, meta.mechanism, meta.title, meta.points, meta.hint, meta.timeout) == (
        "pipe.eof-on-close", "pipe", "The relay finishes once stdin closes.", 2.0, "close it", 30.0)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (make("pipe_eof"), "is not <mechanism>.<behaviour>"),
        (make("pipes.eof"), "unknown mechanism 'pipes'"),
        (make(points=0), "points for pipe.eof-on-close must be a positive number"),
        (make(points=-1), "must be a positive number"),
        (make(timeout="5"), "timeout for pipe.eof-on-close must be a positive number of seconds"),
        (make(hint=3), "hint for pipe.eof-on-close must be a string"),
        (make(doc=""), "needs a docstring"),
        (make(weight=2), "unknown spec marker argument(s) weight"),
    ],
)
def test_bad_metadata_is_a_usage_error_naming_the_spec(function, message):
    with pytest.raises(ValueError, match="specs/test_x.py::test_x") as exc:
        validate_items([FakeItem(function)])
    assert message in str(exc.value)


def test_duplicate_ids_are_rejected():
    a, b = FakeItem(make(), "specs/a.py::test_a"), FakeItem(make(), "specs/b.py::test_b")
    with pytest.raises(ValueError, match="duplicate spec id 'pipe.eof-on-close': specs/a.py::test_a and specs/b.py::test_b"):
        validate_items([a, b])


def test_a_spec_is_not_parametrized():
    with pytest.raises(ValueError, match="do not parametrize"):
        validate_items([FakeItem(make(), parametrized=True)])


def test_specs_without_impl_are_a_usage_error(tmp_path):
    from conformance import locate

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(locate.specs_dir() / "test_pipe.py"), "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert proc.returncode == 4
    assert "run them with --impl=PATH" in proc.stderr
