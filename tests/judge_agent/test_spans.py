"""Judging every span of a kind (issue 14 part 3): span filters, span-scoped judges, `evaluate --each-span`, and
the report, `compare` and `validate` on span items, end to end through the real OpenAI SDK and the scripted
model server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.compare import compare
from judge_agent.definition import builtin_definition, define, parse_definition
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.evaluate import evaluate
from judge_agent.judge import load_builtin, make_judge
from judge_agent.records import read_records
from judge_agent.spans import SpanFilter
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import (
    FIXTURES,
    MULTI,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    responder,
)
from trace_tools import load_path

RAG = str(FIXTURES / "rag_contradiction.jsonl")  # LangChain through OpenInference: one VectorStoreRetriever span
LANGFUSE = str(FIXTURES / "langfuse" / "support_agent.jsonl")  # Langfuse's SDK: one `retriever` observation
HOSTILE = str(FIXTURES / "hostile.jsonl")  # an API key and a forged </data> in the LLM span's messages
RETRIEVER_SPANS = {
    "span:52d65a1b8012934e001b19e6ba3cdc0e:4046a6bce168ef40": "VectorStoreRetriever",
    "span:6513270e269e0d37f2a74de452e6b438:e8e25d940ed90475": "search_policies",
}
# multi_trace.jsonl: one tool span in each of its three supportbot traces
TOOL_SPANS = {
    "lookup_order": "span:43b7f1d15eedd3d6883079399b7c55a9:98b557ba59fc70b2",
    "send_password_reset": "span:7d4daa7cf99f2a1c6c1b23c3a2599dcf:46baeee4a163d402",
    "create_ticket": "span:c7e2aa2874cf40d693b21fe806c1327f:466484158b203ac8",
}
TOOL_JUDGE = """\
name: tool_call_ok
value_type: bool
instructions: |
  Did this tool call do what its caller needed?
  The call: {{ span }}
  Its arguments: {{ span_inputs }}
  Its result: {{ span_outputs }}
  The step that made it: {{ parent }}
"""


def system_text(request: Any) -> str:
    return str(request.json["messages"][0]["content"])


def judged_tool(text: str) -> str:
    """Which tool span a request is about: the one whose GetSpan view ({{ span }}) is in it."""
    return next(tool for tool in TOOL_SPANS if f'"name":"execute_tool {tool}"' in text.replace("\\", ""))


@pytest.fixture
def tool_judge(tmp_path: Path) -> Path:
    path = tmp_path / "tool_call_ok.yaml"
    path.write_text(TOOL_JUDGE)
    return path


def cli(server: ScriptedModelServer, *args: str) -> Result:
    quiet = ["-q"] if args[0] in ("evaluate", "validate") else []
    return CliRunner().invoke(main, [*args, *quiet, "--model", "openai:/m", "--base-url", server.openai_base_url])


# filters and definitions


def test_span_filters_read_a_type_a_name_or_both_as_the_list_spans_filters_do() -> None:
    assert SpanFilter.parse("retriever") == SpanFilter(type="RETRIEVER")
    assert SpanFilter.parse("retrieval") == SpanFilter(type="RETRIEVER")  # the word people use
    assert SpanFilter.parse(" type=tool , name=Lookup ") == SpanFilter(type="TOOL", name="Lookup")
    assert SpanFilter.parse("name=chat") == SpanFilter(name="chat")
    for bad in ("", "type=", "kind=tool", "type=tool,type=llm"):
        with pytest.raises(ConfigError, match=r"span filter .*: use a type"):
            SpanFilter.parse(bad)
    [langfuse] = load_path(LANGFUSE)
    spans = {span.name: span for span in langfuse.spans}
    assert SpanFilter(type="retriever").matches(spans["search_policies"])
    assert SpanFilter(type="generation").matches(spans["answer"])  # Langfuse's own word for its LLM observations
    assert SpanFilter(name="LOOKUP").matches(spans["lookup_order"])
    assert not SpanFilter(type="tool", name="answer").matches(spans["lookup_order"])


def test_a_judge_using_a_span_variable_is_span_scoped_and_may_name_its_spans() -> None:
    definition = builtin_definition("retrieval_relevance")
    assert definition.span_scoped and definition.mode == "plain"
    assert definition.spans == SpanFilter(type="RETRIEVER")
    agent = define(name="a", instructions="Judge {{ span }} within {{ trace }}", spans={"type": "tool"})
    assert agent.span_scoped and agent.mode == "agent" and agent.spans == SpanFilter(type="TOOL")
    assert not builtin_definition("performance").span_scoped
    # `spans` chooses items, not verdicts: it leaves the definition's digest (cache and results keys) alone
    assert (
        define(name="a", instructions="{{ span }}").digest()
        == define(name="a", instructions="{{ span }}", spans="tool").digest()
    )
    with pytest.raises(JudgeFileError, match="spans: only a judge whose instructions use"):
        parse_definition("name: x\ninstructions: '{{ trace }}'\nspans: tool\n", ".yaml", "x.yaml")
    with pytest.raises(JudgeFileError, match="span filter 'kind=tool'"):
        parse_definition("name: x\ninstructions: '{{ span }}'\nspans: kind=tool\n", ".yaml", "x.yaml")


# evaluate


def test_evaluate_judges_every_retrieval_span_keyed_by_trace_and_span(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"

    def relevant(text: str, _body: Any) -> str:
        return "relevant" if "Damaged items are refunded" in text else "partially_relevant"

    with ScriptedModelServer([responder(relevant)] * 2) as server:
        evaluation = evaluate([RAG, LANGFUSE], "retrieval_relevance", **options(server, output=out))
        requests = list(server.requests)
    assert {r.item.key: r.item.span.name for r in evaluation.records if r.item.span} == RETRIEVER_SPANS
    by_span = {r.feedback.span_id: r for r in evaluation.records}
    langfuse = by_span["e8e25d940ed90475"]
    assert langfuse.feedback.value == "relevant" and langfuse.feedback.trace_id == "6513270e269e0d37f2a74de452e6b438"
    assert by_span["4046a6bce168ef40"].feedback.value == "partially_relevant"
    assert langfuse.item.span is not None and langfuse.item.span.type == "RETRIEVER"
    assert langfuse.item.span.parent_id == "1818e811892f902b"
    assert langfuse.item.span.inputs == {
        "query": "Can I get a refund for order A-10482? It arrived broken.",
        "top_k": 2,
    }
    # one plain model call per span: no tools offered, the span's query and documents fenced as data
    assert len(requests) == 2 and all("tools" not in r.json or _only_verdict(r.json) for r in requests)
    texts = [system_text(r) for r in requests]
    langfuse_prompt = next(t for t in texts if "search_policies" in t)
    assert '<data name="span_inputs">\n{"query": "Can I get a refund for order A-10482?' in langfuse_prompt
    assert '<data name="span_outputs">\n[{"id": "refunds.md", "text": "Damaged items' in langfuse_prompt
    assert '<data name="span">\n{"span_id":"e8e25d940ed90475"' in langfuse_prompt
    assert {r.key for r in read_records(out)} == {r.key for r in evaluation.records}


def _only_verdict(body: dict[str, Any]) -> bool:
    return [tool["function"]["name"] for tool in body["tools"]] == ["submit_verdict"]


def test_each_span_judges_spans_apart_and_a_rerun_resumes_them(tmp_path: Path, tool_judge: Path) -> None:
    out = tmp_path / "results.jsonl"
    with ScriptedModelServer([responder(lambda text, _: judged_tool(text) != "create_ticket")] * 3) as server:
        first = evaluate(MULTI, tool_judge, **options(server, output=out, each_span="tool"))
        again = evaluate(MULTI, tool_judge, **options(server, output=out, each_span="tool"))
        assert len(server.requests) == 3  # the second run resumed every span from the results file
        # the verdict cache keys each span apart: three spans, three verdicts, never one span's for another
        server.enqueue(*[responder(lambda text, _: judged_tool(text) == "create_ticket")] * 3)
        cached = evaluate(MULTI, tool_judge, **options(server, each_span="type=tool,name=execute"))
        assert len(server.requests) == 3 and server.remaining == 3  # all three from the cache
    assert {r.item.key: r.feedback.value for r in first.records} == {
        TOOL_SPANS["lookup_order"]: True,
        TOOL_SPANS["send_password_reset"]: True,
        TOOL_SPANS["create_ticket"]: False,
    }
    assert (again.resumed, again.judged) == (3, 0)
    assert [r.feedback.value for r in cached.records] == [r.feedback.value for r in first.records]
    assert cached.cached == 3


def test_limit_and_sample_count_spans(tmp_path: Path, tool_judge: Path) -> None:
    from judge_agent.dataset import Filters

    with ScriptedModelServer([responder(lambda *_: True)] * 2) as server:
        evaluation = evaluate(MULTI, tool_judge, **options(server, each_span="tool", filters=Filters(limit=2)))
    assert [r.item.key for r in evaluation.records] == [TOOL_SPANS["lookup_order"], TOOL_SPANS["send_password_reset"]]


def test_an_agent_span_judge_investigates_the_trace_around_its_span(tmp_path: Path) -> None:
    judge = make_judge(
        "tool_in_context",
        "Was the tool call {{ span }} the right step for the request in {{ trace }}?",
        feedback_value_type=bool,
    )
    with ScriptedModelServer([responder(lambda *_: True)] * 3) as server:
        evaluation = evaluate(MULTI, judge, **options(server, each_span="tool"))
        bodies = [r.json for r in server.requests]
    assert len(evaluation.records) == 3 and all(r.ok and r.feedback.span_id for r in evaluation.records)
    assert all({"GetSpan", "submit_verdict"} <= {t["function"]["name"] for t in b["tools"]} for b in bodies)
    assert all(r.feedback.metadata.mode == "agent" for r in evaluation.records)


def test_a_span_judges_prompt_and_record_mask_secrets(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    judge = make_judge("llm_call_ok", "Judge this model call: {{ span_inputs }} -> {{ span_outputs }}", None, bool)
    with ScriptedModelServer([responder(lambda *_: True)] * 4) as server:
        evaluation = evaluate(HOSTILE, judge, **options(server, output=out, each_span="llm"))
        requests = list(server.requests)
    assert len(requests) == len(evaluation.records) == 1 and evaluation.records[0].ok
    assert "sk-proj-AbCdEf0123456789" in Path(HOSTILE).read_text()
    assert "sk-proj-AbCdEf0123456789" not in out.read_text()
    [request] = requests
    assert "sk-proj-AbCdEf0123456789" not in json.dumps(request.json)
    fenced = system_text(request).split('<data name="span_inputs">\n', 1)[1].split("\n</data>", 1)[0]
    assert "my key is [REDACTED]" in fenced  # the user's message, as the tools would show it


@pytest.mark.parametrize(
    ("judges", "each_span", "message"),
    [
        (["retrieval_relevance", "performance"], None, "retrieval_relevance judges spans and performance whole traces"),
        (["performance"], "tool", "--each-span judges spans one by one, but no judge of this run uses"),
        (["tool_call_ok"], None, "judge one span at a time: say which spans with --each-span TYPE"),
        (
            ["retrieval_relevance"],
            "type=agnet",
            r"no AGNET spans in the data \(its span types: LLM 6, AGENT 3, TOOL 3",
        ),
    ],
)
def test_span_runs_that_cannot_work_fail_before_judging(
    judges: list[str], each_span: str | None, message: str, tool_judge: Path
) -> None:
    specs = [tool_judge if name == "tool_call_ok" else name for name in judges]
    with ScriptedModelServer([]) as server, pytest.raises(ConfigError, match=message):
        evaluate(MULTI, specs, **options(server, each_span=each_span))


def test_dataset_rows_have_no_spans(tmp_path: Path) -> None:
    with ScriptedModelServer([]) as server, pytest.raises(ConfigError, match="the data has dataset rows"):
        evaluate([{"inputs": "q", "outputs": "a"}], "retrieval_relevance", **options(server))


def test_a_span_judge_called_directly_needs_its_span() -> None:
    judge = load_builtin("retrieval_relevance").with_options(model="openai:/m")
    with pytest.raises(ConfigError, match="judges one span at a time: pass a trace and span_id"):
        judge(RAG)
    with pytest.raises(ConfigError, match="judges whole traces: it uses no"):
        load_builtin("performance").with_options(model="openai:/m")(RAG, span_id="4046a6bce168ef40")


# the command, the report, compare and validate


def test_each_span_on_the_command_line_writes_per_span_rows_in_the_report(tmp_path: Path, tool_judge: Path) -> None:
    out, report = tmp_path / "results.jsonl", tmp_path / "report.html"
    with ScriptedModelServer([responder(lambda text, _: judged_tool(text) != "create_ticket")] * 3) as server:
        args = ["evaluate", MULTI, "--judge", str(tool_judge), "--each-span", "tool", "--out", str(out)]
        result = cli(server, *args, "--report", str(report), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summaries"][0]["pass_rate"] == pytest.approx(2 / 3)
    page = report.read_text()
    assert "3 spans judged one by one, in 3 traces" in page
    for tool, key in TOOL_SPANS.items():
        assert f'<strong>execute_tool {tool}</strong> <span class="badge">TOOL span</span>' in page
        assert f"span {key.rsplit(':', 1)[1]}" in page and key in page
    assert page.count("in invoke_agent SupportBot") == 3


def test_compare_pairs_span_verdicts_by_trace_and_span(tmp_path: Path, tool_judge: Path) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    with ScriptedModelServer([responder(lambda *_: True)] * 3) as server:
        evaluate(MULTI, tool_judge, **options(server, output=old, each_span="tool", cache=False))
    with ScriptedModelServer([responder(lambda text, _: judged_tool(text) != "lookup_order")] * 3) as server:
        evaluate(MULTI, tool_judge, **options(server, output=new, each_span="tool", cache=False))
    comparison = compare(read_records(old), read_records(new))
    assert [(c.key, c.old_value, c.new_value) for c in comparison.changed] == [
        (TOOL_SPANS["lookup_order"], True, False)
    ]
    [delta] = comparison.deltas
    assert delta.paired == 3 and delta.delta == pytest.approx(-1 / 3)
    result = CliRunner().invoke(main, ["compare", str(old), str(new)])
    assert result.exit_code == 0 and TOOL_SPANS["lookup_order"] in result.output


def test_validate_reads_span_labels(tmp_path: Path, tool_judge: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    rows = [
        {"trace": MULTI, "trace_id": key.split(":")[1], "span_id": key.split(":")[2], "value": tool != "create_ticket"}
        for tool, key in TOOL_SPANS.items()
    ]
    labels.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with ScriptedModelServer([responder(lambda *_: True)] * 3) as server:
        result = cli(server, "validate", "--labels", str(labels), "--judge", str(tool_judge), "--json")
    assert result.exit_code == 0, result.output
    [agreement] = json.loads(result.stdout)
    assert (agreement["items"], agreement["accuracy"]) == (3, pytest.approx(2 / 3))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"trace": MULTI, "trace_id": TOOL_SPANS["lookup_order"].split(":")[1],
                               "span_id": "00000000000000ff", "value": True}) + "\n")  # fmt: skip
    with ScriptedModelServer([]) as server:
        result = cli(server, "validate", "--labels", str(bad), "--judge", str(tool_judge))
    assert result.exit_code == 1 and "has no span '00000000000000ff'" in result.output


def test_judge_command_judges_one_span_by_its_id() -> None:
    with ScriptedModelServer([responder(lambda *_: "relevant")]) as server:
        result = cli(
            server, "judge", RAG, "--builtin", "retrieval_relevance", "--span-id", "4046A6BCE168EF40", "--json"
        )
        [request] = server.requests
    assert result.exit_code == 0, result.output
    feedback = json.loads(result.stdout)
    assert (feedback["value"], feedback["span_id"]) == ("relevant", "4046a6bce168ef40")
    assert "tags still on. Can I still get a refund?" in system_text(request)
    with ScriptedModelServer([]) as server:
        missing = cli(server, "judge", RAG, "--builtin", "retrieval_relevance")
        unknown = cli(server, "judge", RAG, "--builtin", "retrieval_relevance", "--span-id", "00000000000000ff")
        wrong = cli(server, "judge", RAG, "--builtin", "performance", "--span-id", "4046a6bce168ef40")
    assert missing.exit_code == 2 and "judges one span at a time: give TRACE and --span-id ID" in missing.output
    assert unknown.exit_code == 1 and "00000000000000ff" in unknown.output and "Traceback" not in unknown.output
    assert wrong.exit_code == 2 and "--span-id goes with a span judge" in wrong.output
