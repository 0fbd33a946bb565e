"""Parameters and profiles: a chapter's defaults (its ``parameters`` cell), ``profiles/<profile>/<chapter>.yml``
(a papermill ``-f`` file) and ``-p NAME VALUE`` overrides, resolved and checked against the defaults."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, UserError
from .chapters import Chapter, chapters, read_source
from .layout import BookError, find_root

PROFILES = ("smoke", "book", "paper")
"""The parameter profiles: ``smoke`` (seconds per chapter, used by the tests), ``book`` (the
default, CPU-friendly, what CI builds and publishes), ``paper`` (the paper's protocol, GPU)."""


def _parameters_cell(nb, chapter_name: str):
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or "parameters" not in code[0].get("metadata", {}).get("tags", []):
        raise BookError(
            f"chapter {chapter_name}: its first code cell must be tagged `parameters` and hold the book "
            "defaults (in MyST: ```{code-cell} ipython3 followed by :tags: [parameters])"
        )
    return code[0]


def declared_parameters(chapter: Chapter, nb=None) -> dict[str, Any]:
    """The book defaults: ``name = literal`` assignments of the chapter's ``parameters`` cell."""
    nb = nb if nb is not None else read_source(chapter)
    cell = _parameters_cell(nb, chapter.name)
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise BookError(f"chapter {chapter.name}: the parameters cell is not valid Python: {exc}") from None
    params: dict[str, Any] = {}
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
            stmt, ast.AnnAssign) else None
        if targets is None or len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
            raise BookError(
                f"chapter {chapter.name}: the parameters cell may only hold `name = literal` lines, "
                f"found {ast.unparse(stmt)!r}"
            )
        try:
            params[targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError:
            raise BookError(
                f"chapter {chapter.name}: parameter {targets[0].id} must be a literal (number, string, "
                f"bool, None, list, dict), found {ast.unparse(stmt.value)!r}"
            ) from None
    return params


def profile_file(root: Path, profile: str, chapter_name: str) -> Path:
    return root / "profiles" / profile / f"{chapter_name}.yml"


def check_profile_name(root: Path, profile: str) -> None:
    """Refuse a profile that is neither built in (``PROFILES``) nor a folder of ``profiles/``."""
    known = sorted({*PROFILES, *(p.name for p in (root / "profiles").glob("*") if p.is_dir())})
    if profile not in known:
        raise ParameterError("profile", profile, "profile must be one of " + ", ".join(known))


#: A profile folder holding this file extends the profile it names (one line): see :func:`profile_chain`.
EXTENDS_FILE = "EXTENDS"


def profile_chain(root: Path, profile: str) -> list[str]:
    """The profiles whose files a chapter gets, base first: ``[profile]``, or, when ``profiles/<profile>/EXTENDS``
    names another profile, that profile's chain followed by ``profile`` (``rehearse-paper`` extends ``paper``:
    each chapter gets ``profiles/paper/<chapter>.yml``, then ``profiles/rehearse-paper/<chapter>.yml`` on top)."""
    chain = [profile]
    while True:
        check_profile_name(root, chain[0])
        marker = root / "profiles" / chain[0] / EXTENDS_FILE
        if not marker.is_file():
            return chain
        base = marker.read_text(encoding="utf-8").strip()
        if base in chain:
            raise BookError(f"{marker.relative_to(root)} names {base!r}: profiles {' -> '.join(chain)} extend "
                            "each other in a circle")
        chain.insert(0, base)


def _profile_file_parameters(root: Path, profile: str, chapter_name: str) -> dict[str, Any]:
    path = profile_file(root, profile, chapter_name)
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BookError(f"{path.relative_to(root)} must be a mapping `name: value` (a papermill -f file)")
    return data


def profile_parameters(root: Path, profile: str, chapter_name: str) -> dict[str, Any]:
    """The parameters ``profiles/<profile>/<chapter>.yml`` sets (empty when the file is absent), on top of those
    of the profile it extends, if any (:func:`profile_chain`)."""
    merged: dict[str, Any] = {}
    for name in profile_chain(root, profile):
        merged.update(_profile_file_parameters(root, name, chapter_name))
    return merged


def coerce_cli_value(text: str) -> Any:
    """A ``-p name value`` value, typed the way papermill's command line types it."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if text.strip().startswith(("[", "{")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text


def _check_value(chapter: str, name: str, value: Any, default: Any, where: str) -> None:
    numeric = (int, float)
    if isinstance(default, numeric) and not isinstance(default, bool) and isinstance(value, str):
        hint = ""
        try:
            float(value)
            hint = f" (YAML reads {value} as a string: write it with a dot, e.g. {float(value)!r})"
        except ValueError:
            pass
        raise ParameterError(
            name, value, f"{where}: chapter {chapter} expects a number like its default {default!r}{hint}"
        )


def resolve_parameters(
    chapter: Chapter, profile: str = "book", overrides: dict[str, Any] | None = None, nb=None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(injected, resolved)`` parameters of ``chapter`` in ``profile``.

    ``injected`` is what papermill injects (the profile file, then ``overrides``); ``resolved`` is
    the complete set the chapter runs with (the defaults updated by ``injected``). A name the
    chapter does not declare is an error, so a typo in a profile cannot go unnoticed.
    """
    defaults = declared_parameters(chapter, nb)
    injected: dict[str, Any] = {}
    from_profile = profile_parameters(chapter.root, profile, chapter.name)
    where = " + ".join(f"profiles/{p}/{chapter.name}.yml" for p in profile_chain(chapter.root, profile))
    sources = [(where, from_profile), ("-p", overrides or {})]
    for where, values in sources:
        for name, value in values.items():
            if name not in defaults:
                raise ParameterError(
                    name, value,
                    f"{where}: chapter {chapter.name} has no such parameter; its parameters are "
                    + ", ".join(sorted(defaults)),
                )
            _check_value(chapter.name, name, value, defaults[name], where)
            injected[name] = value
    return injected, {**defaults, **injected}


def check_profiles(root: Path | str | None = None) -> list[str]:
    """Problems with ``profiles/``: unknown chapters or parameters, chapters without a smoke file."""
    root = find_root(root)
    problems: list[str] = []
    by_name = {c.name: c for c in chapters(root)}
    for profile_dir in sorted(p for p in (root / "profiles").glob("*") if p.is_dir()):
        for path in sorted(profile_dir.glob("*.yml")):
            if path.stem not in by_name:
                problems.append(f"{path.relative_to(root)} names no chapter of _toc.yml")
                continue
            try:
                resolve_parameters(by_name[path.stem], profile_dir.name)
            except UserError as exc:
                problems.append(str(exc))
    for name in by_name:
        if not profile_file(root, "smoke", name).is_file():
            problems.append(
                f"chapter {name} has no profiles/smoke/{name}.yml (the tests run every chapter in smoke)")
    return problems
