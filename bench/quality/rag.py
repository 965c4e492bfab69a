"""RAG answers that contradict the one document deciding the question, or (controls) agree with it.

A RETRIEVER span returns the documents (`retrieval.documents.*`, with an EMBEDDING child), an LLM
span answers from a prompt holding them all, and the root returns the answer. Long cases retrieve
eight padded help-centre chunks, as real pipelines do. The judge answers bool: supported or not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from bench.quality.recorder import Case, Recorder, finish, span_id

RAG_INSTRUCTIONS = (
    "The trace {{ trace }} records a retrieval-augmented answer: a retriever span returns documents "
    "(retrieval.documents.*) and an LLM span writes the answer that the root span returns. Is the answer "
    "supported by the retrieved documents? true if what it states agrees with them, false if any claim "
    "contradicts them. Cite the span holding the deciding document and the span with the answer."
)


@dataclass(frozen=True)
class Topic:
    key: str
    question: str
    document: str  # decides the question
    distractors: tuple[str, str]
    supported: str
    contradicting: str


TOPICS = [
    Topic(
        "refund",
        "I bought a rain jacket 7 weeks ago and never wore it, tags still on. Can I still get a refund?",
        "Refund policy (effective March 1, 2025): refunds are accepted within 30 days of delivery for unused "
        "items with tags attached. After 30 days we can offer store credit only.",
        (
            "Return shipping: print the prepaid label from your order page; a $6.95 fee is deducted unless "
            "the item is defective.",
            "Exchanges for a different size or colour can be requested within 30 days of delivery.",
        ),
        "No. Refunds are accepted within 30 days of delivery, so after 7 weeks we can offer store credit only.",
        "Yes! Refunds are accepted within 90 days of purchase, so your jacket is still eligible for a full refund.",
    ),
    Topic(
        "warranty",
        "My Aurora X2 headphones are 10 months old and the battery no longer holds a charge. Is that covered?",
        "Aurora X2 warranty: the headphones carry a 1-year limited warranty. The battery is a wear part and is "
        "covered for 6 months from purchase.",
        (
            "Aurora X2 care guide: store the headphones at room temperature and charge at least once a month.",
            "Warranty claims need the order number and a short description of the fault.",
        ),
        "No: the battery is covered for 6 months from purchase, and yours is 10 months old.",
        "Yes: the battery is covered for the full 2-year warranty, so a 10-month-old battery will be replaced.",
    ),
    Topic(
        "ratelimit",
        "How many API requests per minute can I make on the Free plan?",
        "Rate limits: the Free plan allows 60 requests per minute; the Pro plan allows 600 requests per minute. "
        "Requests over the limit receive HTTP 429.",
        (
            "Authentication: send your key in the Authorization header as a Bearer token.",
            "Pagination: list endpoints return at most 100 items per page with a next cursor.",
        ),
        "The Free plan allows 60 requests per minute; more than that returns HTTP 429.",
        "The Free plan allows 600 requests per minute; more than that returns HTTP 429.",
    ),
    Topic(
        "retention",
        "We are on the Team plan. How long are our request logs kept?",
        "Log retention: request logs are kept for 14 days on the Team plan and for 90 days on the Enterprise "
        "plan. Deleted projects lose their logs immediately.",
        (
            "Exporting logs: the Team plan can export logs as CSV from the dashboard.",
            "Audit events (sign-ins, role changes) are a separate stream from request logs.",
        ),
        "On the Team plan request logs are kept for 14 days.",
        "On the Team plan request logs are kept for 90 days, the same as Enterprise.",
    ),
    Topic(
        "baggage",
        "How many checked bags are included in an Economy Light fare to Madrid?",
        "Fare families (Europe): Economy Light includes no checked bag; Economy Classic includes 1 bag of 23 kg; "
        "Economy Flex includes 2 bags of 23 kg.",
        (
            "Cabin baggage: one bag of up to 8 kg plus a personal item on all fares.",
            "Sports equipment can be added as a special item up to 24 hours before departure.",
        ),
        "None: Economy Light includes no checked bag, so you would need to add one or choose Economy Classic.",
        "Economy Light includes 1 checked bag of 23 kg, so you can check one suitcase at no extra cost.",
    ),
    Topic(
        "leave",
        "I'm the secondary caregiver for our new baby. How much paid parental leave do I get?",
        "Parental leave policy: primary caregivers receive 16 weeks at full pay; secondary caregivers receive "
        "6 weeks at full pay, to be taken within the child's first year.",
        (
            "Holiday policy: employees accrue 25 days of annual leave plus public holidays.",
            "Adoption leave follows the same rules as parental leave.",
        ),
        "As secondary caregiver you get 6 weeks at full pay, to take within the baby's first year.",
        "As secondary caregiver you get 16 weeks at full pay, the same as primary caregivers.",
    ),
]

FILLER = (
    "This article is maintained by the support knowledge team and reviewed every quarter.",
    "For questions not covered here, contact support through the help centre chat.",
    "Older versions of this article are archived and no longer apply.",
    "Terms in this article follow the definitions in the customer agreement.",
    "Regional exceptions, where they exist, are listed in the appendix of the customer agreement.",
    "Screenshots in this article may differ slightly from the current interface.",
)


def rag(seed: int, topic: Topic, supported: bool, long: bool, path: Path) -> Case:
    """An answer to `topic`'s question that agrees with its deciding document or contradicts it."""
    rng = random.Random(seed)
    docs = [topic.document, *topic.distractors]
    if long:  # many retrieved chunks, each padded like real help-centre pages
        docs = [f"{d} {' '.join(rng.choice(FILLER) for _ in range(8))}" for d in docs]
        docs += [" ".join(rng.choice(FILLER) for _ in range(9)) for _ in range(5)]
    order = list(range(len(docs)))
    rng.shuffle(order)
    answer = topic.supported if supported else topic.contradicting
    rec = Recorder(seed, f"help-bot-{topic.key}")
    with rec.span("rag_query", "CHAIN", inputs=topic.question) as root:
        with rec.span("retrieve", "RETRIEVER", root, topic.question) as retriever:
            rec.leaf(
                "embed_query",
                "EMBEDDING",
                retriever,
                topic.question,
                None,
                35,
                {"embedding.model_name": "text-embedding-3-small"},
            )
            rec.app.clock.advance(80)
            for rank, i in enumerate(order):
                prefix = f"retrieval.documents.{rank}.document"
                retriever.set_attribute(f"{prefix}.id", f"kb-{topic.key}-{i}")
                retriever.set_attribute(f"{prefix}.content", docs[i])
                retriever.set_attribute(f"{prefix}.score", round(0.9 - 0.04 * rank, 4))
        context = "\n\n".join(docs[i] for i in order)
        prompt = [
            {"role": "system", "content": f"Answer using ONLY the context below.\n\nContext:\n{context}"},
            {"role": "user", "content": topic.question},
        ]
        llm = rec.leaf(
            "generate_answer",
            "LLM",
            root,
            {"messages": prompt, "model": "gpt-4o-mini"},
            answer,
            1300,
            {"llm.model_name": "gpt-4o-mini-2024-07-18"},
        )
        finish(root, answer)
    return rec.write(
        path,
        long,
        kind="rag",
        control=supported,
        name="answer_supported",
        instructions=RAG_INSTRUCTIONS,
        value_type={"kind": "bool"},
        expected=supported,
        decisive_span_ids=[span_id(retriever), span_id(llm)],
        planted="nothing: the answer agrees with the document"
        if supported
        else f"the answer contradicts: {topic.document}",
    )
