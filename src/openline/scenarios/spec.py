"""Scenario files (docs/testing.md#scenario-files): what the caller says, and what the
recorded call must show.

A file holds one scenario (a mapping with ``name``) or several (``scenarios:``, a list of
them). Each expectation is a mapping with one key, its kind; most kinds also take a bare
value as shorthand (``tool_called: lookup_order``). Every problem is a :class:`SpecError`
naming the file and the line it is on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from openline.domain.calls import EndReason

SUFFIXES = (".yaml", ".yml")


class SpecError(Exception):
    """A scenario file that cannot be run; ``str()`` is ``file:line: what is wrong``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- what the caller says ---------------------------------------------------------------------


class Say(_Model):
    text: str = Field(min_length=1, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"text": value}
        if isinstance(value, dict) and "audio" in value:
            raise ValueError("audio lines are not supported yet: write the line as text")
        return value


# -- what the record must show -----------------------------------------------------------------


class _Expectation(_Model):
    """One expectation: ``KIND`` is its key in a file, ``SHORTHAND`` the field a bare value
    fills."""

    KIND: ClassVar[str]
    SHORTHAND: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {cls.SHORTHAND: value}


Turn = Annotated[int | None, Field(ge=0, description="0: the greeting; N: the reply to line N")]


class AssistantSays(_Expectation):
    KIND = "assistant_says"
    SHORTHAND = "text"
    text: str = Field(min_length=1)
    turn: Turn = None


class AssistantMatches(_Expectation):
    KIND = "assistant_matches"
    SHORTHAND = "pattern"
    pattern: str = Field(min_length=1)
    turn: Turn = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return pattern


class ToolCalled(_Expectation):
    KIND = "tool_called"
    SHORTHAND = "name"
    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = {}


class EventEmitted(_Expectation):
    KIND = "event"
    SHORTHAND = "name"
    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, str] = {}


class MetricValue(_Expectation):
    """The last value logged for the metric: ``equals`` any value, or within ``min`` and
    ``max`` (numbers); with none of them, that it was logged at all."""

    KIND = "metric"
    SHORTHAND = "name"
    name: str = Field(min_length=1, max_length=200)
    equals: Any = None
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)

    @property
    def wants_equal(self) -> bool:
        return "equals" in self.model_fields_set


class MetricPasses(_Expectation):
    KIND = "metric_passes"
    SHORTHAND = "name"
    name: str = Field(min_length=1, max_length=200)


class EndReasonIn(_Expectation):
    KIND = "end_reason"
    SHORTHAND = "any_of"
    any_of: list[EndReason] = Field(min_length=1)

    @field_validator("any_of", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MaxLatency(_Expectation):
    KIND = "max_latency"
    SHORTHAND = "seconds"
    seconds: float = Field(gt=0, allow_inf_nan=False)


def _kind(value: Any) -> str | None:
    """An expectation's kind: the one key of its mapping."""
    return next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None


def _body(value: Any) -> Any:
    return next(iter(value.values()))


Expectation = Annotated[
    Annotated[AssistantSays, BeforeValidator(_body), Tag(AssistantSays.KIND)]
    | Annotated[AssistantMatches, BeforeValidator(_body), Tag(AssistantMatches.KIND)]
    | Annotated[ToolCalled, BeforeValidator(_body), Tag(ToolCalled.KIND)]
    | Annotated[EventEmitted, BeforeValidator(_body), Tag(EventEmitted.KIND)]
    | Annotated[MetricValue, BeforeValidator(_body), Tag(MetricValue.KIND)]
    | Annotated[MetricPasses, BeforeValidator(_body), Tag(MetricPasses.KIND)]
    | Annotated[EndReasonIn, BeforeValidator(_body), Tag(EndReasonIn.KIND)]
    | Annotated[MaxLatency, BeforeValidator(_body), Tag(MaxLatency.KIND)],
    Discriminator(_kind),
]
KINDS = tuple(model.KIND for model in _Expectation.__subclasses__())


# -- a scenario -----------------------------------------------------------------------------


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=200)
    agent: str | None = Field(default=None, min_length=1)
    metadata: dict[str, Any] = {}
    caller: list[Say] = []
    expect: list[Expectation] = Field(min_length=1)
    _file: Path = PrivateAttr(default=Path())

    @property
    def file(self) -> Path:
        """The file it was read from."""
        return self._file

    @property
    def needs_results(self) -> bool:
        """It checks evaluation results (``metric_passes``), which are read from the API."""
        return any(isinstance(e, MetricPasses) for e in self.expect)

    @model_validator(mode="after")
    def _turns_exist(self) -> Scenario:
        for expectation in self.expect:
            turn = getattr(expectation, "turn", None)
            if turn is not None and turn > len(self.caller):
                raise ValueError(
                    f"{expectation.KIND} names turn {turn}, but the caller says "
                    f"{len(self.caller)} line{'s' if len(self.caller) != 1 else ''}"
                )
        return self


# -- reading files --------------------------------------------------------------------------


def load_path(path: Path) -> list[Scenario]:
    """The scenarios of a file, or of every ``*.yaml`` / ``*.yml`` file in a folder (in
    name order); names are unique across them."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise SpecError(f"{path}: no scenario files (*.yaml, *.yml) in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise SpecError(f"{path}: no such file or folder")
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    for file in files:
        for scenario in load_file(file):
            if scenario.name in seen:
                raise SpecError(
                    f"{file}: scenario {scenario.name!r} is also in {seen[scenario.name]}: "
                    "names must be unique"
                )
            seen[scenario.name] = file
            scenarios.append(scenario)
    return scenarios


def load_file(file: Path) -> list[Scenario]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"{file}: cannot read it ({error})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else str(file)
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    if isinstance(data, dict) and "scenarios" in data:
        if set(data) != {"scenarios"} or not isinstance(data["scenarios"], list):
            raise SpecError(f"{file}:1: `scenarios:` must be the file's only key, a list")
        items, nodes = data["scenarios"], _child(root, "scenarios")
    else:
        items, nodes = [data], None
    scenarios = []
    for index, item in enumerate(items):
        node = _child(nodes, index) if nodes is not None else root
        if not isinstance(item, dict):
            raise SpecError(
                f"{file}:{_line(node)}: a scenario is a mapping with name, caller, expect"
            )
        try:
            scenario = Scenario.model_validate(item)
        except ValidationError as error:
            raise _spec_error(file, node, item, error) from None
        scenario._file = file
        scenarios.append(scenario)
    return scenarios


def _spec_error(
    file: Path, node: yaml.Node | None, item: dict, error: ValidationError
) -> SpecError:
    problem = error.errors()[0]
    loc = problem["loc"]
    at = node
    for part in loc:  # as deep as the file goes: an unknown key is found, a missing one not
        deeper = _child(at, part)
        if deeper is None:
            break
        at = deeper
    name = item.get("name")
    scenario = f"scenario {name!r}: " if isinstance(name, str) else ""
    where = _path(loc)
    return SpecError(
        f"{file}:{_line(at)}: {scenario}{where + ': ' if where else ''}{_message(problem)}"
    )


def _message(problem: Any) -> str:
    kind, context = problem["type"], problem.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"unknown expectation {context['tag']!r} (known: {', '.join(KINDS)})"
    if kind == "union_tag_not_found":
        return "an expectation is a mapping with one key, its kind (like `assistant_says: Hello`)"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "value_error":
        return str(context.get("error", problem["msg"]))
    return str(problem["msg"])


def _path(loc: tuple[int | str, ...]) -> str:
    shown = ""
    for part in loc:
        shown += f"[{part}]" if isinstance(part, int) else (f".{part}" if shown else str(part))
    return shown


def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1
