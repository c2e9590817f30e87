"""Every public module, class, function and method of bpnn has a docstring (DESIGN.md's habit)."""

import importlib
import inspect
import pkgutil

import bpnn


def _undocumented() -> list:
    missing = []
    for info in pkgutil.walk_packages(bpnn.__path__, "bpnn."):
        if info.name == "bpnn.__main__":  # running it would start the command line
            continue
        module = importlib.import_module(info.name)
        if not (module.__doc__ or "").strip():
            missing.append(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != info.name:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not (obj.__doc__ or "").strip():
                missing.append(f"{info.name}.{name}")
            if inspect.isclass(obj):
                for attribute, member in vars(obj).items():
                    if attribute.startswith("_"):
                        continue
                    function = member.fget if isinstance(member, property) else getattr(
                        member, "__func__", member)
                    documented = inspect.getdoc(member if isinstance(member, property)
                                                else getattr(obj, attribute))
                    if inspect.isfunction(function) and not documented:  # inherited docs count
                        missing.append(f"{info.name}.{name}.{attribute}")
    return missing


def test_every_public_name_has_a_docstring():
    assert _undocumented() == []
