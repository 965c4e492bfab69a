"""Judging each item K times (`evaluate --repeats K`): what each repeat sends, and its verdicts read as one.

Sampling. A judgment sends temperature 0, and seed 0 where the API takes one (`Provider.sampling`), so K
repeats sent alike would ask one question K times. Repeat r sends seed r instead (`repeat_params`), where the
provider's defaults hold a seed and the judge's own `inference_params` name none (a judge that chose its seed,
or removed it, keeps its choice). Repeat 0 sends what an ordinary run sends, so an ordinary run's cache serves
it. `Feedback.metadata.sampling` records what each repeat sent. At temperature 0 a seed changes little (the
offline model decodes greedily: nothing) and Anthropic's API takes none, so such repeats mostly agree: a run
says so once (`sampling_note`); a judge whose repeats should sample gives itself a temperature.

Combining. An item's K verdicts (a judge's, or a rubric criterion's) are one verdict by `combine.combine`:
majority vote for bools, categories and text, the mean for numbers; failed repeats have no vote, and an item
whose every repeat failed has no verdict (an error). `Gathering` holds a (judge, item)'s repeats until all K
are in: a run yields an item's repeats one after another, so only the items in flight wait, and the records
of a results file come back in that order too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from judge_agent.combine import Combined, canonical, combine
from judge_agent.records import EvalRecord, RecordKey

if TYPE_CHECKING:  # summaries, reports and compare read repeats without loading the judge
    from judge_agent.judge import Judge

T = TypeVar("T")

#: `evaluate --repeats` at most: each repeat costs a judgment, and an agreement among more says little more.
MAX_REPEATS = 20


def repeat_params(judge: Judge, repeat: int) -> dict[str, Any] | None:
    """The judge's `inference_params` for repeat `repeat`: seed `repeat` added where its provider's defaults hold
    a seed and the judge names none; None when the repeat sends what repeat 0 does."""
    params = judge.definition.inference_params
    provider = judge.provider
    if repeat == 0 or provider is None or "seed" in params or "seed" not in provider.defaults():
        return None
    return {**params, "seed": repeat}


def for_repeat(judge: Judge, repeat: int) -> Judge:
    """The judge a repeat runs: a copy with the repeat's seed (see `repeat_params`), or the judge itself."""
    params = repeat_params(judge, repeat)
    return judge if params is None else judge.with_options(inference_params=params)


def sampling_note(judges: Sequence[Judge], repeats: int) -> str | None:
    """One line naming the judges whose repeats will mostly agree, as they sample at temperature 0 (None when
    none do, or there is one repeat): the user asked for repeats to learn something."""
    if repeats < 2:
        return None
    alike: list[str] = []
    seeded: list[str] = []
    for judge in judges:
        provider = judge.provider
        if provider is None or judge.definition.mode == "check":
            continue
        first = provider.sampling(judge.definition.inference_params)
        if first.get("temperature") != 0:
            continue
        (seeded if repeat_params(judge, 1) is not None else alike).append(judge.name)
    if not alike and not seeded:
        return None
    parts = []
    if seeded:
        parts.append(f"{', '.join(seeded)} at temperature 0 with seeds 0-{repeats - 1} (which change little)")
    if alike:
        parts.append(f"{', '.join(alike)} at temperature 0 with no seed to vary (the same request {repeats} times)")
    return (
        f"repeats sample {'; '.join(parts)}: expect them to agree; give a judge a temperature in its "
        "inference_params (temperature: 0.7) for repeats that measure its spread"
    )


class Gathering(Generic[T]):
    """Each (judge, item)'s entries, handed back in repeat order once its repeats are all in.

    `repeats` is how many each judge's items have (a number for every judge, one per judge, or None: gather
    until `rest`). An entry added again under the same record key replaces the first (a retried judgment).
    """

    def __init__(self, repeats: int | Mapping[str, int] | None) -> None:
        self.repeats = repeats
        self.pending: dict[tuple[str, str], dict[RecordKey, tuple[int, T]]] = {}

    def add(self, record: EvalRecord, entry: T) -> list[T] | None:
        """Add one repeat's entry; the item's entries when this completes it, else None."""
        group_key = (record.judge, record.item.key)
        group = self.pending.setdefault(group_key, {})
        group[record.key] = (record.repeat, entry)
        expected = self.repeats if not isinstance(self.repeats, Mapping) else self.repeats.get(record.judge)
        if expected is None or len(group) < expected:
            return None
        del self.pending[group_key]
        return _in_order(group)

    def rest(self) -> Iterator[tuple[tuple[str, str], list[T]]]:
        """The items still waiting (all of them when `repeats` is None) as ((judge, item key), entries in repeat
        order), in the order they came; they are let go."""
        while self.pending:
            group_key = next(iter(self.pending))
            yield group_key, _in_order(self.pending.pop(group_key))


def _in_order(group: Mapping[RecordKey, tuple[int, T]]) -> list[T]:
    return [entry for _, entry in sorted(group.values(), key=lambda pair: pair[0])]


@dataclass(frozen=True)
class ItemVerdict:
    """An item's records (one per repeat, in repeat order) and their combined verdict."""

    records: list[EvalRecord]
    combined: Combined

    @property
    def record(self) -> EvalRecord:
        """The record that speaks for the item (its rationale, cited spans, tool calls): the first repeat that gave
        the combined verdict (for numbers, the nearest to the mean); the first record when every repeat failed."""
        value = self.combined.value
        given = [r for r in self.records if r.ok and r.feedback.value is not None]
        if value is None or not given:
            return self.records[0]
        value_type = self.records[0].value_type
        if value_type.kind in ("int", "float"):
            return min(given, key=lambda r: abs(float(r.feedback.value or 0) - float(value)))
        wanted = canonical(value, value_type)
        return next(r for r in given if canonical(r.feedback.value, value_type) == wanted)

    @property
    def failed(self) -> bool:
        return self.combined.value is None


def item_verdict(records: Sequence[EvalRecord]) -> ItemVerdict:
    """The combined verdict of one item's records (a judge's repeats, in repeat order)."""
    values = [r.feedback.value if r.ok else None for r in records]
    return ItemVerdict(list(records), combine(records[0].value_type, values))


def item_verdicts(records: Iterable[EvalRecord], repeats: int | Mapping[str, int] | None) -> Iterator[ItemVerdict]:
    """Records read as items: each (judge, item)'s combined verdict, as soon as its `repeats` are in (see
    `Gathering`), then those left incomplete."""
    gathering: Gathering[EvalRecord] = Gathering(repeats)
    for record in records:
        group = gathering.add(record, record)
        if group is not None:
            yield item_verdict(group)
    for _, group in gathering.rest():
        yield item_verdict(group)
