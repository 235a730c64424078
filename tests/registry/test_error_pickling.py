"""Every ledger and registry error crosses a process boundary whole: type, message and fields.

Intake workers and the writer process (registry.writer) send errors back pickled; an error
that rebuilt as another type, or without its fields, would reach the client as a 500 or with
the wrong problem ``type``.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from typing import Any

import pytest

import ledger
import registry
from ledger.errors import LedgerError
from registry.errors import InvalidEventError, NotHolderError, RegistryError

for package in (ledger, registry):  # every module, so that every subclass is defined
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)

SAMPLES: dict[str, Any] = {"str": "units", "int": 7, "object": "units", "Exception": ValueError("cause")}


def subclasses(root: type) -> list[type]:
    found = [root]
    sub: type
    for sub in root.__subclasses__():
        found += subclasses(sub)
    return found


ERRORS = sorted({*subclasses(LedgerError), *subclasses(RegistryError)}, key=lambda c: c.__qualname__)


def sample_arguments(cls: type) -> tuple[list[Any], dict[str, Any]]:
    """A value for each required parameter of ``cls.__init__``, chosen by its annotation."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    init = cls.__init__  # type: ignore[misc]  # the class's own, not an instance's
    for parameter in list(inspect.signature(init).parameters.values())[1:]:
        if parameter.default is not inspect.Parameter.empty or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        annotation = str(parameter.annotation).split(" | ")[0]
        value = [{"field": "f", "message": "m", "kind": "k"}] if annotation.startswith("list") else SAMPLES[annotation]
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    return (args or ["a message"]), kwargs


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__qualname__)
def test_every_error_pickles_whole(cls: type[Exception]) -> None:
    args, kwargs = sample_arguments(cls)
    error = cls(*args, **kwargs)
    rebuilt = pickle.loads(pickle.dumps(error))
    assert type(rebuilt) is cls
    assert str(rebuilt) == str(error)
    public = {k: v for k, v in vars(error).items() if not k.startswith("_")}
    assert {k: v for k, v in vars(rebuilt).items() if not k.startswith("_")}.keys() == public.keys()
    for name, value in public.items():
        assert repr(getattr(rebuilt, name)) == repr(value), name
    assert getattr(rebuilt, "code", None) == getattr(error, "code", None)


def test_keyword_arguments_and_fields_survive() -> None:
    error = InvalidEventError("quantity", "must be positive", errors=[{"field": "quantity", "message": "zero"}])
    rebuilt = pickle.loads(pickle.dumps(error))
    assert rebuilt.errors == [{"field": "quantity", "message": "zero"}]
    assert rebuilt.field == "quantity"
    held = pickle.loads(pickle.dumps(NotHolderError("p.2028.1.1-3", "alice", "bob", 12)))
    assert (held.serials, held.account, held.holder, held.since) == ("p.2028.1.1-3", "alice", "bob", 12)
