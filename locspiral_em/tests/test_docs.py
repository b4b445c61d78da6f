"""What the docs promise about the command line and the figures: every argument has a help
text, the demo runs every method (LocSharpen included), and ``docs/make_figures.py`` draws
the demo itself (its defaults: size, seed, mask), not a phantom of its own. Cheap: no
method runs here."""
import argparse
import importlib.util
import inspect
import os

from locspiral_em import cli, demo
from locspiral_em.core import defaults as D
from locspiral_em.tests.pytest_shim import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAKE_FIGURES = os.path.join(ROOT, "docs", "make_figures.py")


def subcommands():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_argument_has_a_help_text(command):
    parser = subcommands()[command]
    missing = [action.option_strings or [action.dest] for action in parser._actions
               if not action.help and not isinstance(action, argparse._HelpAction)]
    assert missing == [], f"locspiral-em {command}: no help for {missing}"


def test_demo_runs_every_method_and_its_size_is_the_cli_default():
    source = inspect.getsource(demo.compute_demo)
    for call in ("core.locspiral(", "core.locbsharpen(", "core.locsharpen(",
                 "core.locbfactor(", "core.lococcupancy(", "core.maturity_index("):
        assert call in source, call
    assert set(D.METHODS) == {"locspiral", "locbsharpen", "locsharpen", "locbfactor",
                              "lococcupancy", "maturity"}  # the six the demo covers
    (size,) = [a for a in subcommands()["demo"]._actions if a.dest == "size"]
    assert size.default == demo.SIZE == 128
    assert inspect.signature(demo.run_demo).parameters["size"].default == demo.SIZE
    assert inspect.signature(demo.compute_demo).parameters["size"].default == demo.SIZE


@pytest.mark.skipif(not os.path.isfile(MAKE_FIGURES), reason="no docs/ in this install")
def test_make_figures_draws_the_demo_with_its_defaults(monkeypatch, tmp_path):
    """make_figures.main asks compute_demo for the demo with no size or seed of its own (the
    figures are then the demo's); stopped at that call, so nothing is computed."""
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("make_figures", MAKE_FIGURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []

    class Stop(Exception):
        pass

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        raise Stop

    monkeypatch.setattr(module.demo, "compute_demo", fake)
    with pytest.raises(Stop):
        module.main(folder=str(tmp_path), workers=1)
    ((args, kwargs),) = calls
    assert args == () and set(kwargs) <= {"workers", "say"}, (args, kwargs)
    assert "demo_phantom(" not in open(MAKE_FIGURES).read()  # no phantom of its own
