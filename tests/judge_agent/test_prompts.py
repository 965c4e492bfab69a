"""What the judge model is told: templates, data fencing, the system prompt's parts and examples."""

from __future__ import annotations

import pytest

from judge_agent import prompts
from judge_agent.errors import ConfigError
from judge_agent.value_types import ValueType
from judge_agent.verdict import VerdictContract

CONTRACT = VerdictContract(ValueType.of(bool), cite_spans=False)


def test_template_variables_are_found_in_order_and_unknown_ones_refused() -> None:
    assert prompts.template_variables("Is {{outputs}} right for {{ inputs }}?") == ["outputs", "inputs"]
    with pytest.raises(ConfigError, match=r"'trace_id'.*use \{\{ trace \}\}"):
        prompts.template_variables("{{ trace_id }}")


def test_fill_replaces_known_values_and_keeps_the_rest() -> None:
    assert prompts.fill("A {{ outputs }} B {{inputs}}", {"outputs": "X"}) == "A X B {{inputs}}"


def test_data_blocks_fence_text_and_json() -> None:
    assert prompts.data_block("outputs", "hi") == '<data name="outputs">\nhi\n</data>'
    assert prompts.data_block("inputs", {"q": "é"}) == '<data name="inputs">\n{"q": "é"}\n</data>'


def test_the_system_prompt_holds_role_data_rule_instructions_contract_and_examples() -> None:
    example = prompts.Example(outputs="30 days", expectations="30 days", score=True, justification="Same policy.")
    text = prompts.system_prompt("Check the refund policy.", CONTRACT, [example], agent=False)
    assert text.startswith(prompts.PLAIN_ROLE)
    assert prompts.DATA_RULE in text and "## Evaluation instructions\nCheck the refund policy." in text
    assert CONTRACT.describe() in text
    assert 'Example 1:\n<data name="outputs">\n30 days\n</data>' in text
    assert "Verdict: true\nJustification: Same policy." in text


def test_agent_prompts_describe_the_investigation() -> None:
    text = prompts.system_prompt("Judge it.", VerdictContract(ValueType.of(str), cite_spans=True), [], agent=True)
    assert text.startswith(prompts.AGENT_ROLE) and "Scored examples" not in text
