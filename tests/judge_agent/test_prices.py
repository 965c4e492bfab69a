"""Prices: the built-in table, overrides (--price's form, judge files, model options), cached
prompt tokens counted apart and priced through both wire formats, Anthropic's cache breakpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from judge_agent.definition import define, parse_definition
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.feedback import Feedback
from judge_agent.judge import load_builtin, make_judge
from judge_agent.messages import Usage
from judge_agent.providers import get_provider
from judge_agent.providers.prices import Prices, canonical_model, parse_price, price_of
from judge_agent.testing import ScriptedModelServer, reply, tool_calls

FIXTURES = Path(__file__).parents[2] / "fixtures"
SEED = FIXTURES / "data_processor.jsonl"
VERDICT = {"value": "pass", "rationale": "the answer is right", "cited_span_ids": []}
MINI = Prices(input_per_mtok=0.15, output_per_mtok=0.60, cached_input_per_mtok=0.075)
SONNET = Prices(input_per_mtok=3, output_per_mtok=15, cached_input_per_mtok=0.3, cache_write_per_mtok=3.75)


def base_url(server: ScriptedModelServer, model: str) -> str:
    return server.openai_base_url if model.startswith("openai") else server.anthropic_base_url


def judge_plain(server: ScriptedModelServer, model: str, *usages: Any, **options: Any) -> Feedback:
    """A plain judgment through the real SDK, one scripted verdict turn per usage (the last one judges)."""
    for usage in usages:
        server.enqueue(tool_calls(("submit_verdict", VERDICT), usage=usage))
    model_options = {"base_url": base_url(server, model), "api_key": "k", **options.pop("model_options", {})}
    judge = make_judge("answer", "Is {{ outputs }} right?", model, model_options=model_options, **options)
    return judge(outputs="4")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4o", "gpt-4o"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-opus-4-0", "claude-opus-4"),
    ],
)
def test_a_snapshot_or_alias_is_priced_as_its_model(model: str, expected: str) -> None:
    assert canonical_model(model) == expected
    assert price_of("openai", model) is not None


def test_models_on_this_machine_cost_nothing_and_unknown_ones_have_no_price() -> None:
    assert price_of("local", "qwen2.5-1.5b") == Prices(input_per_mtok=0, output_per_mtok=0)
    assert price_of("ollama", "qwen2.5:7b") == Prices(input_per_mtok=0, output_per_mtok=0)
    assert price_of("openai", "my-finetune") is None
    assert price_of("openai", "gpt-4o-mini") == MINI
    assert price_of("anthropic", "claude-sonnet-4-5") == SONNET


def test_cached_and_written_prompt_tokens_are_priced_apart() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=1_000, cached_input_tokens=6_000, cache_write_tokens=3_000)
    fresh = 10_000 - 6_000 - 3_000
    assert SONNET.cost(usage) == pytest.approx((fresh * 3 + 6_000 * 0.3 + 3_000 * 3.75 + 1_000 * 15) / 1e6)
    # no cache prices given: every prompt token at the input price
    plain = Prices(input_per_mtok=1, output_per_mtok=2)
    assert plain.cost(usage) == pytest.approx((10_000 * 1 + 1_000 * 2) / 1e6)


def test_openai_cost_comes_from_the_table_with_cached_tokens_counted(model_server: ScriptedModelServer) -> None:
    # two turns (a text answer, then the verdict): prompt 4,000 then 5,000 tokens, of which 0 then 3,584 cached
    model_server.enqueue(reply("Let me think.", usage=(4_000, 50)))
    feedback = judge_plain(model_server, "openai:/gpt-4o-mini-2024-07-18", (5_000, 60, 3_584))
    assert model_server.requests[-1].json["model"] == "gpt-4o-mini-2024-07-18"
    meta = feedback.metadata
    assert (meta.input_tokens, meta.output_tokens, meta.cached_input_tokens, meta.cache_write_tokens) == (
        9_000,
        110,
        3_584,
        0,
    )
    assert meta.cost == pytest.approx(((9_000 - 3_584) * 0.15 + 3_584 * 0.075 + 110 * 0.60) / 1e6)


def test_anthropic_cache_reads_and_writes_are_counted_in_the_prompt_and_priced(
    model_server: ScriptedModelServer,
) -> None:
    # the wire's input_tokens leaves the cached parts out: 10,000 prompt = 1,000 + 6,000 read + 3,000 written
    feedback = judge_plain(model_server, "anthropic:/claude-sonnet-4-6", (10_000, 100, 6_000, 3_000))
    usage = model_server.requests[0]
    assert usage.api == "anthropic"
    meta = feedback.metadata
    assert (meta.input_tokens, meta.cached_input_tokens, meta.cache_write_tokens) == (10_000, 6_000, 3_000)
    assert meta.cost == pytest.approx((1_000 * 3 + 6_000 * 0.3 + 3_000 * 3.75 + 100 * 15) / 1e6)


def test_anthropic_requests_mark_the_system_prompt_and_tools_for_the_prompt_cache(
    model_server: ScriptedModelServer,
) -> None:
    optimal = {**VERDICT, "value": "optimal"}
    model_server.enqueue(tool_calls(("GetTraceInfo", {})), tool_calls(("submit_verdict", optimal)))
    options = {"base_url": model_server.anthropic_base_url, "api_key": "k"}
    judge = load_builtin("performance", model_options=options).with_options(
        model="anthropic:/claude-haiku-4-5", inline="never"
    )
    feedback = judge(SEED)
    assert feedback.ok, feedback.error
    assert len(model_server.requests) == 2
    for request in model_server.requests:  # every turn: the same prefix, marked
        body = request.json
        (system,) = body["system"]
        assert system["cache_control"] == {"type": "ephemeral"} and "trace" in system["text"]
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert all("cache_control" not in tool for tool in body["tools"][:-1])
    assert model_server.requests[0].json["system"] == model_server.requests[1].json["system"]


def test_an_unknown_model_has_no_cost_and_no_error(model_server: ScriptedModelServer) -> None:
    feedback = judge_plain(model_server, "openai:/my-finetune", (1_000, 10))
    assert feedback.ok and feedback.metadata.cost is None and feedback.metadata.input_tokens == 1_000


def test_model_options_prices_override_the_table_per_model(model_server: ScriptedModelServer) -> None:
    prices = {
        "gpt-4o-mini": Prices(input_per_mtok=1, output_per_mtok=2),
        "other": Prices(input_per_mtok=9, output_per_mtok=9),
    }
    feedback = judge_plain(model_server, "openai:/gpt-4o-mini", (1_000, 100), model_options={"prices": prices})
    assert feedback.metadata.cost == pytest.approx((1_000 * 1 + 100 * 2) / 1e6)
    # a model the overrides do not name keeps its table price
    assert get_provider("openai:/gpt-4o", api_key="k", prices=prices).prices == price_of("openai", "gpt-4o")
    # one model's price as its fields (the Python API's older form)
    single = get_provider("openai:/x", api_key="k", prices={"input_per_mtok": 1.0, "output_per_mtok": 2.0})
    assert single.prices == Prices(input_per_mtok=1, output_per_mtok=2)
    assert get_provider("openai:/gpt-4o", api_key="k", prices={}).prices == price_of("openai", "gpt-4o")  # none given


def test_judge_file_prices_price_its_model_and_the_callers_win(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    text = (
        'name: answer\ninstructions: "Is {{ outputs }} right?"\n'
        'prices:\n  my-finetune: "1,2,0.5"\n  gpt-4o: {input: 3, output: 4}\n'
    )
    definition = parse_definition(text, ".yaml", "answer.yaml")
    assert definition.prices["my-finetune"] == Prices(input_per_mtok=1, output_per_mtok=2, cached_input_per_mtok=0.5)
    options = {"base_url": model_server.openai_base_url, "api_key": "k"}
    from judge_agent.judge import Judge

    judge = Judge(definition.model_copy(update={"model": "openai:/my-finetune"}), model_options=options)
    model_server.enqueue(tool_calls(("submit_verdict", VERDICT), usage=(1_000, 100, 400)))
    assert judge(outputs="4").metadata.cost == pytest.approx((600 * 1 + 400 * 0.5 + 100 * 2) / 1e6)
    override = {**options, "prices": {"my-finetune": Prices(input_per_mtok=10, output_per_mtok=10)}}
    judge = Judge(definition.model_copy(update={"model": "openai:/my-finetune"}), model_options=override)
    model_server.enqueue(tool_calls(("submit_verdict", VERDICT), usage=(1_000, 100)))
    assert judge(outputs="4").metadata.cost == pytest.approx(1_100 * 10 / 1e6)


def test_prices_do_not_change_a_judge_s_digest() -> None:
    plain = define(name="a", instructions="Is {{ outputs }} right?")
    priced = define(name="a", instructions="Is {{ outputs }} right?", prices={"gpt-4o": "1,2"})
    assert plain.digest() == priced.digest()


@pytest.mark.parametrize(
    "text", ["gpt-4o", "gpt-4o=", "=1,2", "gpt-4o=1", "gpt-4o=1,2,3,4", "gpt-4o=a,b", "gpt-4o=-1,2", "gpt-4o=nan,1"]
)
def test_a_malformed_price_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ConfigError, match="expected MODEL=IN,OUT") as raised:
        parse_price(text)
    assert "\n" not in str(raised.value)


def test_a_price_is_parsed() -> None:
    assert parse_price("gpt-4o = 2.5, 10, 1.25") == (
        "gpt-4o",
        Prices(input_per_mtok=2.5, output_per_mtok=10, cached_input_per_mtok=1.25),
    )


def test_a_judge_file_with_a_bad_price_names_the_model() -> None:
    text = 'name: a\ninstructions: "Is {{ outputs }} right?"\nprices:\n  gpt-4o: "1"\n'
    with pytest.raises(JudgeFileError, match=r"prices: gpt-4o: expected 'IN,OUT\[,CACHED\]'"):
        parse_definition(text, ".yaml", "a.yaml")
    text = 'name: a\ninstructions: "Is {{ outputs }} right?"\nprices:\n  gpt-4o: {input: -1, output: 2}\n'
    with pytest.raises(JudgeFileError, match=r"prices: gpt-4o\.input"):
        parse_definition(text, ".yaml", "a.yaml")
