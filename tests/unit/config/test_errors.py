"""One error tree: every exception class of the packages derives from FacenodeError, and the
tree drawn in ``config.errors`` is the tree the code defines (names, parents, builtin bases,
modules), so the drawing cannot drift."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import config.errors
from config.errors import FacenodeError

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("config", "analysis", "models", "dicom", "node", "reconstruction")
#: Alembic's scripts, importable only inside an Alembic run; they define no exceptions.
NOT_IMPORTABLE = ("node/migrations",)
#: A line of the drawing: tree prefix, class name, optional (builtin base), module.
TREE_LINE = re.compile(
    r"^    (?P<prefix>(?:│   |    )*(?:├── |└── )?)(?P<name>\w+)"
    r"(?: \((?P<builtin>\w+)\))?\s+(?P<module>[\w.]+)"
)


def _module_names() -> list[str]:
    names = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if any(rel.as_posix().startswith(skip + "/") for skip in NOT_IMPORTABLE):
                continue
            parts = rel.with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined (not just imported) in a module of the packages."""
    found: dict[str, type[BaseException]] = {}
    for name in _module_names():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                assert obj.__name__ not in found or found[obj.__name__] is obj, (
                    f"two exception classes named {obj.__name__}: the tree names them once"
                )
                found[obj.__name__] = obj
    return found


def _drawn_tree() -> dict[str, tuple[str | None, str | None, str]]:
    """name → (parent, builtin base, module) as drawn in the config.errors docstring."""
    doc = config.errors.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    drawn: dict[str, tuple[str | None, str | None, str]] = {}
    stack: list[str] = []
    for line in block.splitlines():
        m = TREE_LINE.match(line)
        assert m, f"not a line of the tree: {line!r}"
        depth = len(m["prefix"]) // 4
        del stack[depth:]
        assert len(stack) == depth, f"{m['name']} is drawn below no parent"
        drawn[m["name"]] = (stack[-1] if stack else None, m["builtin"], m["module"])
        stack.append(m["name"])
    return drawn


DEFINED = _defined_exceptions()


def test_the_walk_finds_the_known_errors() -> None:
    """Guards the walk itself: if it found nothing, the tests below would pass vacuously."""
    for name in ("FacenodeError", "SettingsError", "DicomInputError", "SendError",
                 "GeometryError", "ManifestError", "MissingAttributeError"):
        assert name in DEFINED
    assert len(DEFINED) >= 16


@pytest.mark.parametrize("name", sorted(DEFINED))
def test_every_exception_derives_from_facenode_error(name: str) -> None:
    assert issubclass(DEFINED[name], FacenodeError), (
        f"{DEFINED[name].__module__}.{name} is outside the tree: derive it from FacenodeError"
    )


def test_the_drawing_names_every_class_and_nothing_else() -> None:
    assert set(_drawn_tree()) == set(DEFINED)


@pytest.mark.parametrize("name", sorted(DEFINED))
def test_the_drawing_shows_each_class_where_the_code_has_it(name: str) -> None:
    cls = DEFINED[name]
    parent, builtin, module = _drawn_tree()[name]
    ours = [b.__name__ for b in cls.__bases__ if issubclass(b, FacenodeError)]
    builtins = [b.__name__ for b in cls.__bases__ if not issubclass(b, FacenodeError)]
    assert module == cls.__module__
    if cls is FacenodeError:
        assert parent is None and builtins == ["Exception"]
        return
    assert ours == [parent]
    assert builtins == ([builtin] if builtin else [])


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("SettingsError", ValueError),
        ("NormsError", ValueError),
        ("ManifestError", ValueError),
        ("GeometryError", ValueError),
        ("InvalidInputError", ValueError),
        ("BackendUnavailableError", RuntimeError),
        ("NotAPhotoError", ValueError),
        ("UnreadablePixelsError", ValueError),
        ("IncompleteHeaderError", ValueError),
    ],
)
def test_builtin_bases_are_kept_for_existing_callers(
    name: str, builtin: type[Exception]
) -> None:
    """``except ValueError`` (and RuntimeError) callers from before the tree keep working."""
    with pytest.raises(builtin):
        raise DEFINED[name]("x")
