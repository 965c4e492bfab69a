"""`evaluate --repeats K`: each item judged K times and counted once, by the majority (the mean for numbers), with
the agreement among its repeats; repeat r sends seed r; each repeat cached and resumed apart. Through the scripted
model server (the real openai and anthropic SDKs on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judge_agent.cli import main
from judge_agent.compare import compare
from judge_agent.evaluate import evaluate
from judge_agent.judge import Judge, load_builtin, make_judge
from judge_agent.records import EvalRecord, read_records
from judge_agent.report import render_report
from judge_agent.summary import Tally
from judge_agent.testing.model_server import Reply, ScriptedModelServer, error
from tests.judge_agent.batch import (
    BOOL,
    ROOT,
    TRACE_FILES,
    hang_after,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    record,
    verdict,
)

#: What each judge says of each answer, repeat by repeat (the request's seed says which repeat it is; a fourth
#: repeat says what the first did).
SAID: dict[tuple[str, str], list[Any]] = {
    ("right", "ANSWER-A"): [True, False, True],  # True, 2 of 3 agree
    ("right", "ANSWER-B"): [False, False, False],  # False, all agree
    ("tone", "ANSWER-A"): ["calm", "calm", "calm"],  # calm, all agree
    ("tone", "ANSWER-B"): ["rude", "odd", "odd"],  # odd, 2 of 3
    ("stars", "ANSWER-A"): [5, 4, 3],  # mean 4, 1 of 3 agree
    ("stars", "ANSWER-B"): [2, 2, 3],  # mean 2.33 -> 2, 2 of 3
}
ROWS = [{"key": "a", "outputs": "ANSWER-A"}, {"key": "b", "outputs": "ANSWER-B"}]


def judges() -> list[Judge]:
    return [
        make_judge("right", "Is {{ outputs }} right?", feedback_value_type=bool),
        make_judge("tone", "What is the tone of {{ outputs }}?", feedback_value_type=["calm", "rude", "odd"]),
        make_judge("stars", "How many stars for {{ outputs }}?", feedback_value_type=int, min_value=1, max_value=5),
    ]


def by_seed(body: Any) -> Reply:
    """The verdict SAID for the request's judge, answer and seed (Anthropic's requests carry none: repeat 0's)."""
    text = json.dumps(body)
    judge = "right" if "right?" in text else "tone" if "the tone" in text else "stars"
    answer = "ANSWER-A" if "ANSWER-A" in text else "ANSWER-B"
    return verdict(SAID[judge, answer][body.get("seed", 0) % 3], f"seed {body.get('seed')}")


def seeds(server: ScriptedModelServer) -> list[Any]:
    return sorted(request.json.get("seed") for request in server.requests)


def test_repeats_combine_by_majority_and_mean_and_record_each_item_s_agreement(tmp_path: Path) -> None:
    with ScriptedModelServer([by_seed] * 18) as server:
        run = evaluate(ROWS, judges(), output=tmp_path / "r.jsonl", repeats=3, **options(server))
        assert seeds(server) == [0] * 6 + [1] * 6 + [2] * 6  # repeat r sent seed r, every judge, every item
    right, tone, stars = (run.summary(name) for name in ("right", "tone", "stars"))
    assert (right.count, right.judgments, right.repeats) == (2, 6, 3)  # an item counts once
    assert right.distribution == {"true": 1, "false": 1} and right.pass_rate == 0.5
    assert right.agreement == pytest.approx((2 / 3 + 1) / 2) and right.disagreements == 1
    assert tone.distribution == {"calm": 1, "rude": 0, "odd": 1}  # "odd" beat "rude" 2 to 1
    assert tone.agreement == pytest.approx((1 + 2 / 3) / 2)
    assert stars.mean == 3.0 and stars.observed == [2.0, 4.0]  # items 4 (mean of 5, 4, 3) and 2 (2.33 rounded)
    assert stars.agreement == pytest.approx((1 / 3 + 2 / 3) / 2) and stars.disagreements == 2
    assert (run.count, run.judged, run.failed) == (18, 18, 0)  # the run's counts are judgments
    sent = {(r.judge, r.item.key, r.repeat): r.feedback.metadata.sampling for r in read_records(tmp_path / "r.jsonl")}
    assert sent["stars", "rows#b", 2] == {"temperature": 0, "seed": 2}  # what each repeat sent, in its Feedback
    assert run.warnings and "seeds 0-2 (which change little)" in run.warnings[0]  # at temperature 0: said once


def test_the_report_shows_each_item_once_with_its_repeats_and_their_agreement(tmp_path: Path) -> None:
    with ScriptedModelServer([by_seed] * 18) as server:
        run = evaluate(ROWS, judges(), output=tmp_path / "r.jsonl", repeats=3, **options(server))
    html = render_report(run.iter_records(), run.summaries)
    assert "18 records" in html and "2 items" in html
    assert html.count('<tr id="item-') == 6  # 2 items x 3 judges, not 18 rows
    right_a = _row(html, "item-1")  # the first row: judge right, item a: true (true, false, true)
    assert re.search(r'<span class="verdict pass">true</span>', right_a)
    assert "3 repeats, 67% agree" in right_a
    assert re.findall(r'title="repeat (\d): seed \d">(\w+)</span>', right_a) == [
        ("0", "true"),
        ("1", "false"),
        ("2", "true"),
    ]
    stars_a = _row(html, "item-5")
    assert '<span class="verdict pass">4</span>' in stars_a and "3 repeats, 33% agree" in stars_a  # 5, 4, 3
    assert '<div class="rationale">seed 1</div>' in stars_a  # the repeat nearest the mean speaks for the item
    assert "3 repeats per item (6 judgments): agreement 83%, 1 item split" in html  # the summary table


def _row(html: str, anchor: str) -> str:
    start = html.index(f'<tr id="{anchor}"')
    return html[start : html.index("</tr>", start)]


def test_the_cli_shows_the_agreement_and_refuses_repeats_out_of_range(tmp_path: Path) -> None:
    data = tmp_path / "answers.csv"
    data.write_text("id,answer\na,ANSWER-A\nb,ANSWER-B\n")
    judge_file = tmp_path / "right.yaml"
    judge_file.write_text("name: right\nvalue_type: bool\ninstructions: Is {{ outputs }} right?\n")
    args = ["evaluate", str(data), "--judge", str(judge_file), "--map", "key=id", "--map", "outputs=answer"]
    with ScriptedModelServer([by_seed] * 6) as server:
        out, report = tmp_path / "r.jsonl", tmp_path / "r.html"
        where = ["--model", "openai:/m", "--base-url", server.openai_base_url, "--out", str(out), "-q"]
        result = CliRunner().invoke(main, [*args, *where, "--repeats", "3", "--report", str(report)])
    assert result.exit_code == 0, result.stderr
    assert "6 results, 6 judged" in result.stdout
    assert re.search(r"right\s+2\s+0\s+50\.0%\s+\S+\s+83\.3%", result.stdout)  # items, errors, score, CI, agreement
    assert "right: each item judged 3 times, the majority taken; they agree 83.3% on average, 1 item split" in (
        result.stdout
    )
    assert "3 repeats, 67% agree" in report.read_text()
    for wrong in ("0", "21"):
        refused = CliRunner().invoke(main, [*args, "--repeats", wrong])
        assert refused.exit_code == 2 and f"{wrong} is not in the range 1<=x<=20" in refused.stderr
    assert "--repeats INTEGER RANGE" in CliRunner().invoke(main, ["evaluate", "--help"]).stdout


def test_each_repeat_is_cached_apart_and_an_ordinary_run_s_cache_serves_repeat_zero(tmp_path: Path) -> None:
    with ScriptedModelServer([by_seed] * 30) as server:
        once = evaluate(ROWS, judges(), output=tmp_path / "once.jsonl", **options(server))
        assert once.judged == 6 and seeds(server) == [0] * 6
        thrice = evaluate(ROWS, judges(), output=tmp_path / "thrice.jsonl", repeats=3, **options(server))
        assert (thrice.judged, thrice.cached) == (18, 6)  # repeat 0 from the ordinary run's cache
        assert seeds(server) == [0] * 6 + [1] * 6 + [2] * 6  # only repeats 1 and 2 were asked
        again = evaluate(ROWS, judges(), output=tmp_path / "again.jsonl", repeats=3, **options(server))
        assert (again.judged, again.cached, len(server.requests)) == (18, 18, 18)  # every repeat a hit of its own
        more = evaluate(ROWS, judges(), output=tmp_path / "thrice.jsonl", repeats=4, **options(server))
        assert (more.resumed, more.judged, seeds(server)[-6:]) == (18, 6, [3] * 6)  # only the new repeat is asked
    assert [s.model_dump(exclude={"cached"}) for s in again.summaries] == [
        s.model_dump(exclude={"cached"}) for s in thrice.summaries
    ]
    assert {(r.repeat, r.feedback.rationale) for r in again.records if r.judge == "right"} == {
        (0, "seed 0"),
        (1, "seed 1"),
        (2, "seed 2"),
    }  # each repeat's own verdict came back, not repeat 0's three times


def test_without_a_seed_the_repeats_send_one_request_and_the_run_says_so(tmp_path: Path) -> None:
    judge = make_judge("right", "Is {{ outputs }} right?", feedback_value_type=bool)
    with ScriptedModelServer([by_seed] * 6) as server:
        run = evaluate(
            ROWS,
            judge,
            model="anthropic:/m",
            model_options={"base_url": server.anthropic_base_url, "api_key": "k"},
            repeats=3,
            output=tmp_path / "r.jsonl",
            concurrency=1,  # repeat 1 starts once repeat 0 is in the cache
        )
        bodies = [request.json for request in server.requests]
    assert len(bodies) == 6  # cached apart all the same: repeat 1 is not repeat 0's cache hit
    assert all(body["temperature"] == 0 and "seed" not in body for body in bodies)
    assert run.summary("right").agreement == 1.0  # what the note warns of
    assert run.warnings == [
        "repeats sample right at temperature 0 with no seed to vary (the same request 3 times): expect them to "
        "agree; give a judge a temperature in its inference_params (temperature: 0.7) for repeats that measure "
        "its spread"
    ]


def test_a_judge_s_own_seed_and_temperature_are_kept_for_every_repeat(tmp_path: Path) -> None:
    fixed = make_judge("right", "Is {{ outputs }} right?", feedback_value_type=bool, inference_params={"seed": 0})
    warm = make_judge("tone", "What is the tone of {{ outputs }}?", feedback_value_type=["calm", "rude", "odd"])
    warm = warm.with_options(inference_params={"temperature": 0.8})
    with ScriptedModelServer([by_seed] * 12) as server:
        run = evaluate(ROWS, [fixed, warm], output=tmp_path / "r.jsonl", repeats=3, **options(server))
        sent = [(r.json["temperature"], r.json["seed"], "right?" in json.dumps(r.json)) for r in server.requests]
    assert sorted(sent) == sorted([(0, 0, True)] * 6 + [(0.8, s, False) for s in (0, 1, 2) for _ in range(2)])
    assert run.summary("right").agreement == 1.0  # seed 0 three times: SAID's first verdict each time
    assert len(run.warnings) == 1 and "right at temperature 0 with no seed to vary" in run.warnings[0]
    assert "tone" not in run.warnings[0]  # it samples


def test_failed_repeats_have_no_vote_and_an_item_without_any_verdict_is_an_error(tmp_path: Path) -> None:
    judge = make_judge("right", "Is {{ outputs }} right?", feedback_value_type=bool)

    def fail_some(body: Any) -> Any:  # item a: repeat 1 fails; item b: every repeat fails
        if "ANSWER-B" in json.dumps(body) or body["seed"] == 1:
            return error(400, "no")
        return by_seed(body)

    with ScriptedModelServer([fail_some] * 6) as server:
        run = evaluate(ROWS, judge, output=tmp_path / "r.jsonl", repeats=3, **options(server))
    right = run.summary("right")
    assert (right.count, right.scored, right.errors, right.error_codes) == (2, 1, 1, {"provider_error": 1})
    assert (right.judgments, right.failed_judgments, run.failed) == (6, 4, 4)
    assert right.distribution == {"true": 1, "false": 0}  # item a: true, true (repeat 1 had no vote)
    assert right.agreement == 1.0 and right.disagreements == 0
    html = render_report(run.iter_records(), run.summaries)
    assert '<tr id="item-2" class="failed">' in html  # item b: an error row
    assert re.findall(r'title="repeat (\d): [^"]*">(\w+)</span>', _row(html, "item-1")) == [
        ("0", "true"),
        ("1", "provider_error"),
        ("2", "true"),
    ]


def test_a_killed_run_with_repeats_judges_only_the_missing_repeats_again(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    arrived, release = threading.Event(), threading.Event()
    with ScriptedModelServer([hang_after(7, arrived, release)] * 10) as hanging:
        command = [
            sys.executable, "-m", "judge_agent.cli", "evaluate", *TRACE_FILES[:2], "--builtin", "performance",
            "--model", "openai:/m", "--base-url", hanging.openai_base_url, "--out", str(out),
            "--concurrency", "1", "--repeats", "3", "-q",
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert arrived.wait(60), process.stderr.read() if process.stderr else ""
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            release.set()
    done = {(r.item.key, r.repeat) for r in read_records(out)}
    assert len(done) == 7  # 4 traces x 3 repeats: two items whole, the third's first repeat

    with ScriptedModelServer([by_seed_for_traces] * 10) as server:
        rerun = evaluate(TRACE_FILES[:2], "performance", output=out, repeats=3, cache=False, **options(server))
        assert (rerun.resumed, rerun.judged, len(server.requests)) == (7, 5, 5)
        assert seeds(server) == [0, 1, 1, 2, 2]  # the third trace's repeats 1 and 2, the fourth's three
    records = read_records(out)
    assert len(records) == 12 and {(r.item.key, r.repeat) for r in records} >= done
    performance = rerun.summary("performance")
    assert (performance.count, performance.judgments, performance.repeats) == (4, 12, 3)
    assert performance.distribution == {"optimal": 0, "acceptable": 4, "needs_improvement": 0}


def by_seed_for_traces(body: Any) -> Reply:
    """`acceptable` from repeat 0 (as the killed run's `hang_after` said) and repeat 1; `optimal` from repeat 2."""
    return verdict("optimal" if body["seed"] == 2 else "acceptable")


def test_a_rubric_s_criteria_combine_each_on_their_own(tmp_path: Path) -> None:
    from tests.judge_agent.test_rubric import entry, submit

    def respond(body: Any) -> Any:  # grounded_answer: pass, fail, fail; the others always pass
        grounded = "fail" if body["seed"] else "pass"
        names = ("no_repeated_calls", "failures_handled", "grounded_answer")
        return submit({n: entry(grounded if n == "grounded_answer" else "pass", "seen", []) for n in names})

    with ScriptedModelServer([respond] * 3) as server:
        run = evaluate(TRACE_FILES[1], load_builtin("agent_guidelines"), repeats=3, **options(server))
        assert len(server.requests) == 3  # one investigation per repeat for every criterion
    grounded = run.summary("agent_guidelines/grounded_answer")
    assert grounded.distribution == {"pass": 0, "fail": 1} and grounded.agreement == pytest.approx(2 / 3)
    handled = run.summary("agent_guidelines/failures_handled")
    assert handled.distribution == {"pass": 1, "fail": 0} and handled.agreement == 1.0


def repeated(key: str, values: list[Any], **fields: Any) -> list[EvalRecord]:
    """An item's records, one per repeat."""
    return [record(key, v, **fields).model_copy(update={"repeat": r}) for r, v in enumerate(values)]


def test_compare_combines_an_item_s_repeats_before_pairing() -> None:
    old = repeated("a", [True, False, True], value_type=BOOL) + repeated("b", [False, False, True], value_type=BOOL)
    new = repeated("a", [True], value_type=BOOL) + repeated("b", [True, True, False], value_type=BOOL)
    comparison = compare(old, new, resamples=0)
    [delta] = comparison.deltas
    assert (delta.old, delta.new, delta.paired) == (0.5, 1.0, 2)  # a: true, true; b: false, then true
    assert delta.delta == 0.5 and (delta.old_count, delta.new_count) == (2, 2)
    [changed] = comparison.changed
    assert (changed.key, changed.old_value, changed.new_value) == ("b", False, True)
    assert changed.old_rationale == "because False" and changed.new_rationale == "because True"


def test_a_run_s_tally_holds_only_the_items_whose_repeats_are_not_all_in() -> None:
    tally = Tally(repeats=3)
    waiting = []
    for item in range(50):
        for record_ in repeated(f"i{item}", [1, 2, 3]):
            tally.add(record_)
            waiting.append(len(tally.items.pending))
    assert max(waiting) == 1 and tally.items.pending == {}
    [summary] = tally.summaries(resamples=0)
    assert (summary.count, summary.judgments, summary.mean) == (50, 150, 2.0)
