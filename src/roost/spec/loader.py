"""Load a spec from YAML into :class:`roost.spec.model.Spec`, with errors a user can act on.

Every error names the file, the line, the field and the value, and says what to do; an
unknown field suggests the nearest known one. Nothing here raises anything but SpecError.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from roost.errors import SpecError
from roost.spec.model import APP_TYPES, Spec

Loc = tuple[str | int, ...]


MAX_SPEC_BYTES = 4 * 1024 * 1024  # room for a setup or run script of a megabyte and more
MAX_VALUES = 20_000  # values in the spec once YAML aliases are followed; real specs have hundreds
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and return are text


class _Refused(Exception):
    """A problem found while walking the YAML nodes: (message, line, hint)."""


def _line_marks(node: Any, path: Loc, marks: dict[Loc, int], budget: list[int]) -> None:
    """Record the 1-based line of every key and item under ``node`` (a YAML node); refuse a
    key given twice in one mapping, and a document that expands past MAX_VALUES values (an
    alias bomb: a few hundred bytes that would take minutes)."""
    import yaml  # start-up time: only spec files need it (`roost up jupyter` starts faster without)

    budget[0] -= 1
    if budget[0] < 0:
        raise _Refused(
            f"the spec expands to more than {MAX_VALUES} values (YAML aliases?)",
            node.start_mark.line + 1,
            "write the values out, or use fewer aliases",
        )
    marks.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise _Refused(
                        f"key '{key_node.value}' is given twice: on line {seen[key_node.value]} and line {line}",
                        line,
                        "keep one of them",
                    )
                seen[key_node.value] = line
            child = (*path, str(key_node.value))
            marks[child] = line
            _line_marks(value_node, child, marks, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_marks(item, (*path, index), marks, budget)


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _tag_of(model: type[BaseModel]) -> tuple[object, ...]:
    field = model.model_fields.get("type")
    return typing.get_args(field.annotation) if field else ()


def _unwrap(annotation: object, tag: object) -> object:
    """The model class inside Optional/Annotated/union annotations, picking by union tag."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            tagged = [m for m in members if _is_model(m) and tag in _tag_of(m)]
            if tagged or len(members) == 1:
                annotation = (tagged or members)[0]
                continue
            return None
        return annotation


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that holds the last element of ``loc`` (for field suggestions)."""
    model: Any = Spec
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        if not _is_model(model):
            return None
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            continue  # a union tag in the loc, not a field
        model = _unwrap(field.annotation, parts[0] if parts else None)
    return model if _is_model(model) else None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


_MISSING = object()


def _child(node: object, part: str | int) -> object:
    """The item ``part`` of a parsed mapping or list, or _MISSING."""
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return _MISSING


def _data_loc(loc: Loc, data: object) -> Loc:
    """Drop union tags from a pydantic loc so it matches the keys in the file."""
    kept: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        child = _child(node, part)
        if child is not _MISSING:
            kept.append(part)
            node = child
        elif isinstance(node, dict) and index == len(loc) - 1:
            kept.append(part)  # a missing or unknown key: still the field the user means
        # else: a union tag such as 'jupyter' in ('app', 'jupyter', 'port')
    return tuple(kept)


def _describe(error: Mapping[str, Any], loc: Loc) -> tuple[str, str | None]:
    """A message and a hint for one pydantic error."""
    kind, field = error["type"], ".".join(str(p) for p in loc)
    if kind == "extra_forbidden":
        model = _model_at(tuple(error["loc"]))
        known = _field_names(model) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"known fields here: {', '.join(known)}"
        return f"unknown field '{loc[-1]}'", hint
    if kind == "missing":
        return f"'{field}' is required", f"add '{loc[-1]}:' to the spec"
    if kind == "union_tag_invalid":
        return (
            f"unknown app type '{error['input'].get('type') if isinstance(error['input'], dict) else error['input']}'",
            f"choose one of: {', '.join(APP_TYPES)}",
        )
    message = error["msg"].removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return (
            f"value {error['input']!r} is not a valid machine name",
            "use 1-40 lowercase letters, digits and dashes, starting with a letter",
        )
    value = error.get("input")
    if isinstance(value, dict | list) or kind.startswith("value_error"):
        return message, None
    return f"value {value!r}: {message}", None


def _value_at(loc: Loc, data: object) -> object:
    for part in loc:
        data = _child(data, part)
        if data is _MISSING:
            return None
    return data


def _line_of(loc: Loc, marks: dict[Loc, int], value: object, message: str) -> int | None:
    """The line of the field; of the very key when the message quotes a key of a mapping."""
    if isinstance(value, dict):
        quoted = [key for key in value if f"'{key}'" in message]
        if quoted and (*loc, str(quoted[0])) in marks:
            return marks[(*loc, str(quoted[0]))]
    return next((marks[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in marks), marks.get(()))


def _absolute_paths(spec: Spec, base_dir: Path | None) -> Spec:
    """Local paths (workdir, file_mounts sources) made absolute, relative to the spec's folder."""
    base = base_dir or Path.cwd()

    def absolute(path: str) -> str:
        return str((base / Path(path).expanduser()).resolve())

    update: dict[str, object] = {}
    if spec.workdir:
        update["workdir"] = absolute(spec.workdir)
    if spec.file_mounts:
        update["file_mounts"] = {target: absolute(source) for target, source in spec.file_mounts.items()}
    return spec.model_copy(update=update) if update else spec


def spec_from_data(
    data: object, *, file: str = "<spec>", marks: dict[Loc, int] | None = None, base_dir: Path | None = None
) -> Spec:
    """Validate already-parsed data; raise SpecError naming file, line, field and value."""
    marks = marks or {}
    if not isinstance(data, dict):
        raise SpecError(
            "a spec must be a mapping of fields (name:, app:, ...)",
            file=file,
            line=marks.get(()),
            hint="see README.md for an example spec",
        )
    try:
        spec = _absolute_paths(Spec.model_validate(data), base_dir)
        spec._source = file
        return spec
    except ValidationError as exc:
        errors = exc.errors()
        first, more = errors[0], errors[1:]
        loc = _data_loc(first["loc"], data)
        if first["type"] == "union_tag_invalid" and isinstance(first["input"], dict):
            loc = (*loc, "type")
        message, hint = _describe(first, loc)
        line = _line_of(loc, marks, _value_at(loc, data), message)
        if more:
            message += (
                f" (and {len(more)} more problem{'s' if len(more) > 1 else ''}: "
                + "; ".join(".".join(str(p) for p in _data_loc(e["loc"], data)) for e in more[:4])
                + ")"
            )
        raise SpecError(
            message,
            file=file,
            line=line,
            field=".".join(str(p) for p in loc) or None,
            value=first.get("input"),
            hint=hint,
        ) from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file."""
    file = str(path)
    return load_spec_text(_read(path, file), file=file, base_dir=Path(path).resolve().parent)


def load_spec_text(text: str, *, file: str, base_dir: Path) -> Spec:
    """Validate a spec's text (sent to the server, say) with the same checks and messages as a
    file's: ``file`` names it in errors, relative paths resolve against ``base_dir``."""
    import yaml  # start-up time: only spec files need it (`roost up jupyter` starts faster without)

    if len(text.encode("utf-8", "replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB", file=file)
    _refuse_control_text(text, file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise SpecError("the file is empty", file=file, hint="a spec needs at least 'name:' and 'app:'")
        marks: dict[Loc, int] = {}
        _line_marks(node, (), marks, [MAX_VALUES])
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError(
            f"not valid YAML: {exc.problem}", file=file, line=line, hint="check indentation and quoting on that line"
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", file=file, hint="check the file's characters") from None
    except _Refused as exc:
        message, line, hint = exc.args
        raise SpecError(message, file=file, line=line, hint=hint) from None
    except RecursionError:
        raise SpecError("the spec is nested too deeply", file=file, hint="a spec is a few levels deep") from None
    _refuse_control_characters(data, (), file, marks)
    return spec_from_data(data, file=file, marks=marks, base_dir=base_dir)


def _read(path: str | Path, file: str) -> str:
    """The spec's text: a file of at most MAX_SPEC_BYTES, UTF-8, no control characters."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(
            "no such file", file=file, hint="give a spec file path or an app name such as 'jupyter'"
        ) from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read the file: {exc}", file=file) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            f"the spec is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB",
            file=file,
            hint="put long scripts in the workdir and run them from setup/run",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(f"not UTF-8 text (byte {raw[exc.start]:#04x})", file=file, line=line) from None
    return text


def _refuse_control_text(text: str, file: str) -> None:
    found = CONTROL.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise SpecError(
            f"control character {found.group()!r} in the file",
            file=file,
            line=line,
            hint="remove it (a spec is plain text; tabs and newlines are fine)",
        )


def _refuse_control_characters(data: object, loc: Loc, file: str, marks: dict[Loc, int]) -> None:
    """Refuse a value with a control character (a NUL written as an escape: "a\\0b")."""
    if isinstance(data, str):
        if CONTROL.search(data):
            field = ".".join(str(p) for p in loc) or None
            raise SpecError(
                "control character in the value",
                file=file,
                line=_line_of(loc, marks, None, ""),
                field=field,
                value=data[:80],
                hint="remove it",
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            _refuse_control_characters(key, loc, file, marks)
            _refuse_control_characters(value, (*loc, str(key)), file, marks)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            _refuse_control_characters(item, (*loc, index), file, marks)


def spec_for_app(app: str, name: str | None = None) -> Spec:
    """The spec meant by ``roost up APP``: that app on the local backend, named after it."""
    return spec_from_data({"name": name or app, "app": app}, file="<command line>")
