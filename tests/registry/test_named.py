"""The one generic Registry class: duplicates refused, close matches, lazy plugin import, order."""
import sys

import pytest

from wsss_zoo.errors import RegistryError, UnknownNameError
from wsss_zoo.registry import Registry


def test_register_get_and_close_matches():
    reg = Registry("toy recipe")

    @reg.register("eps_like")
    def fn():
        return 1

    assert reg.get("eps_like") is fn and reg["eps_like"] is fn and "eps_like" in reg
    with pytest.raises(UnknownNameError, match="did you mean eps_like"):
        reg.get("eps_lik")
    with pytest.raises(UnknownNameError, match="known: eps_like"):
        reg.get("zzz")


def test_a_second_object_under_a_taken_name_is_refused_not_overwritten():
    reg = Registry("toy layout")
    first = reg.register("x", object())
    reg.register("x", first)  # the same object again (a module imported twice) is fine
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("x", object())
    assert reg.get("x") is first


def test_plugins_are_imported_on_first_lookup_only(tmp_path, monkeypatch):
    reg = Registry("toy plugin", packages=("toy_plugins",))
    pkg = tmp_path / "toy_plugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text("import builtins\nbuiltins.TOY_IMPORTS = getattr(builtins, 'TOY_IMPORTS', 0) + 1\n"
                                "from test_named import TOY\nTOY.register('from_plugin', 'value')\n")
    (pkg / "_private.py").write_text("raise RuntimeError('private modules are not plugins')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(globals(), "TOY", reg)
    import builtins

    monkeypatch.setattr(builtins, "TOY_IMPORTS", 0, raising=False)
    assert builtins.TOY_IMPORTS == 0  # nothing imported at construction
    assert reg.get("from_plugin") == "value" and reg.get("from_plugin") == "value"
    assert builtins.TOY_IMPORTS == 1
    for name in ("toy_plugins", "toy_plugins.one"):
        monkeypatch.delitem(sys.modules, name)


def test_items_keep_registration_order_and_names_are_sorted():
    reg = Registry("toy")
    for name in ("b", "a", "c"):
        reg.register(name, name.upper())
    assert [k for k, _ in reg.items()] == ["b", "a", "c"] and reg.values() == ["B", "A", "C"]
    assert reg.names() == ["a", "b", "c"] and len(reg) == 3


def test_every_registry_of_the_project_is_one_class():
    from training.recipes import RECIPES
    from training.tasks import TASKS
    from wsss_zoo.convert import LAYOUTS
    from wsss_zoo.models import ARCHITECTURES
    from wsss_zoo.pipelines.base import CAM_RECIPES, PIPELINES, SEGMENT_RECIPES

    for reg in (ARCHITECTURES, LAYOUTS, CAM_RECIPES, SEGMENT_RECIPES, PIPELINES, TASKS, RECIPES):
        assert isinstance(reg, Registry) and len(reg) > 0, reg
