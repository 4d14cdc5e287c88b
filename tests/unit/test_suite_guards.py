"""The suite's own guards (tests/conftest.py) stay in force: they are what keeps a new pytest or a
moved corpus file from breaking or silently thinning the suite."""

from __future__ import annotations

import pytest
import torch


def test_monkeypatch_refuses_an_nn_module(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(1, 1))
    with pytest.raises(TypeError, match="nn.Module"):
        monkeypatch.setattr(model, "0", torch.nn.Identity())
    assert isinstance(model[0], torch.nn.Linear)


def test_monkeypatch_still_patches_modules_and_dotted_names(monkeypatch):
    import os.path

    monkeypatch.setattr(os.path, "sep", "|")
    assert os.path.sep == "|"
    monkeypatch.setattr("os.path.sep", "#")
    assert os.path.sep == "#"


def test_corpus_skips_are_failures_while_the_corpus_exists(request):
    conftest = request.config.pluginmanager.get_plugin(str(request.config.rootpath / "tests" / "conftest.py"))
    assert conftest is not None
    reason = f"{conftest.CORPUS_MISSING} at /somewhere/corpus/images/exif"
    assert conftest.corpus_skip_is_a_failure(reason, corpus_exists=True)
    assert not conftest.corpus_skip_is_a_failure(reason, corpus_exists=False)
    assert not conftest.corpus_skip_is_a_failure("needs SIGKILL", corpus_exists=True)
