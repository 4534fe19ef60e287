import pytest

from visaudit.errors import UnknownNameError
from visaudit.registry import Registry


def test_lazy_entry_is_imported_on_first_get():
    reg = Registry("thing")
    reg.add_lazy("join", "os.path:join", "joins paths")
    assert reg.names() == ["join"]
    assert reg.help("join") == "joins paths"
    import os.path

    assert reg.get("join") is os.path.join


def test_unknown_name_suggests_close_matches():
    reg = Registry("probe")
    reg.add_lazy("accuracy", "os:getcwd")
    reg.add_lazy("adversarial", "os:getcwd")
    with pytest.raises(UnknownNameError) as exc:
        reg.get("acuracy")
    assert "Did you mean 'accuracy'" in str(exc.value)
    assert "visaudit list probes" in str(exc.value)


def test_duplicate_registration_is_refused():
    reg = Registry("thing")
    reg.add_lazy("a", "os:getcwd")
    with pytest.raises(ValueError):
        reg.add_lazy("a", "os:getcwd")
    reg.register("b")(object())
    with pytest.raises(ValueError):
        reg.register("b")(object())


def test_register_replaces_its_own_lazy_entry():
    reg = Registry("thing")
    reg.add_lazy("x", "os:getcwd", "help text")
    obj = object()
    assert reg.register("x")(obj) is obj
    assert reg.get("x") is obj and reg.help("x") == "help text"
