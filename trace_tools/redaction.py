"""Keeping secrets in a trace from leaving through a tool.

Two rules, applied to every value a tool shows or searches:
- an attribute whose key names a credential (a word of the key is key, apikey, token, secret,
  password, passwd, pwd, passphrase, pin, auth, authorization, credential, cookie, dsn or
  signature; `session_id` in the key's last dotted segment) has its value replaced. A number or
  boolean is kept (`llm.token_count.prompt = 12` is a count), except under the words that name
  what is itself a secret (pin, password, pwd, passphrase, secret): `pin = 1234` is hidden;
- text that looks like a credential is replaced wherever it appears: provider keys (`sk-…`,
  Stripe `sk_live_`/`rk_live_`, AWS, GitHub `ghp_`/`github_pat_`, Slack, Google, Hugging Face
  `hf_`), `Bearer`/`Basic` authorization values in any case, JWTs, PEM private-key blocks, the
  password of a URL (`postgres://user:pw@host`), and `key = value` pairs whose key names a
  credential, however they are written: JSON (`"password": "x"`), JSON escaped inside a JSON
  string (`{\\"password\\": \\"x\\"}`), a Python repr (`{'password': 'x'}`), a query string
  (`?api_key=x&token=y`), a config line (`password=x`, `aws_secret_access_key = x`, `password: x`).

The shapes are those of detect-secrets' plugins (BasicAuth, Jwt, PrivateKey, Stripe, AWS,
Keyword with its quoted/colon/equals forms, …). It is not a dependency: it scans code line by
line and reports secrets rather than masking them, and its per-line plugin loop is far slower
than what runs here on every field of a trace. Redaction runs on every field when the search
index is built, so the rules run only on texts holding one of their literals (`hinted`): the
index build of a 10k-span trace takes as long as before these shapes were added (bench/README).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any

import re2

REDACTED = "[REDACTED]"

_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "pin",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "dsn",
        "signature",
    }
)
#: Words naming a value that is a secret even when it is a number (a PIN, a numeric password).
_ALWAYS_SECRET_WORDS = frozenset({"pin", "password", "passwd", "pwd", "passphrase", "secret"})
_KEY_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SESSION_ID = re.compile(r"session[_\-]?id$", re.IGNORECASE)

_SECRET_TEXT = re.compile(
    r"""
      \bsk-[A-Za-z0-9_\-]{16,}                          # OpenAI / Anthropic style keys
    | \b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}            # Stripe secret and restricted keys
    | \b(?i:bearer)\s+(?=[A-Za-z]*[0-9._~+/\-])[A-Za-z0-9._~+/\-]{8,}=*   # bearer tokens (not 'Bearer of')
    | \b(?:AKIA|ASIA)[0-9A-Z]{16}\b                     # AWS access key ids
    | \bgh[pousr]_[A-Za-z0-9]{30,}                      # GitHub tokens
    | \bgithub_pat_[A-Za-z0-9_]{20,}                    # GitHub fine-grained tokens
    | \bxox[abprs]-[A-Za-z0-9\-]{10,}                   # Slack tokens
    | \bAIza[0-9A-Za-z_\-]{35}                          # Google API keys
    | \bhf_[A-Za-z0-9]{30,}                             # Hugging Face tokens
    | \beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*    # JWTs (header.payload.signature)
    | -----BEGIN[A-Z ]{0,40}PRIVATE\ KEY(?:\ BLOCK)?-----     # PEM private keys: the whole block, or
      (?:[\s\S]*?-----END[A-Z ]{0,40}PRIVATE\ KEY(?:\ BLOCK)?-----|[\s\S]*)  # to the end when cut
    """,
    re.VERBOSE,
)
# `Basic <base64 of user:password>`: only when the base64 decodes to something with a colon, so
# prose ("Basic information") stays.
_BASIC = re.compile(r"\b(?i:basic)\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])")
# the password of a URL's user information: scheme://user:password@host
_URL_PASSWORD = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]{0,20}://[^\s/:@\"'<>]{0,200}:)([^\s/@\"'<>]{1,500})(@)")
# `key <sep> value` in any text: the key bare or in quotes (", ', \" or \'), `:` or `=`, the value
# quoted the same ways or bare. The key is checked by `_key_class` in the callback. Bounded and
# possessive, so text full of quotes or backslashes costs linear time.
_KEY_VALUE = re.compile(
    r"""
    (?P<head>
        (?<![\w.\-])(?P<kq>\\?["']|)(?P<key>[A-Za-z_][\w.\-]{0,80}+)(?P=kq)
        \s{0,10}+(?P<sep>[:=])\s{0,10}+
        (?P<scheme>(?i:bearer|basic|token|digest|apikey)\s+)?
    )
    (?: \\"(?P<esc>(?:[^"\\]|\\[^"]){0,2000}+)\\"
      | "(?P<dq>(?:[^"\\\n]|\\.){0,2000}+)"
      | '(?P<sq>(?:[^'\\\n]|\\.){0,2000}+)'
      | (?P<bare>[^\s,;&}\])"'\\{\[<>]{1,2000}+)
    )
    """,
    re.VERBOSE,
)
_KEEP_BARE = frozenset({"null", "none", "true", "false", "nil", "undefined"})


@functools.lru_cache(maxsize=65536)
def _key_class(key: str) -> int:
    """0: not a credential key; 1: a credential key (numbers kept); 2: its value is secret even as a number."""
    words = [w.lower() for w in _KEY_WORDS.findall(key)]
    if any(w in _ALWAYS_SECRET_WORDS or w.endswith(("password", "passwd")) for w in words):
        return 2
    if any(w in _SECRET_WORDS or w.endswith("apikey") for w in words):
        return 1
    # session ids are credentials; OpenInference's `session.id` names a conversation, not a login
    return 1 if _SESSION_ID.search(key.rsplit(".", 1)[-1]) else 0


def is_secret_key(key: str) -> bool:
    """Whether an attribute key names a credential (word match, so `input_tokens` is not one)."""
    return _key_class(key) > 0


# Literals without which no rule can match, found by RE2 in one linear pass (per field, or over a
# whole trace's joined fields in `hinted`): ~94% of an agent trace's fields hold none, and running
# the rules on every field cost most of a search index build. Key words count only when their key
# ends in a separator, so prose ('authenticated', 'tokens', 'shipping') is rarely a hint.
_HINT_PATTERN = (
    r"(?i)(?P<url>://)"
    # a key word, then the rest of its key and a separator: 'authenticated' in prose is no hint
    r"""|(?P<stem>(?:key|token|secret|passw|passph|pwd|auth|credential|cookie|dsn|signature|pin|session[_\-]?id)"""
    r"""[\w.\-]{0,80}(?:\\?["'])?\s{0,10}[:=])"""
    r"|sk-|k_live_|k_test_|bearer|akia|asia|gh[pousr]_|github_pat_|xox|aiza|hf_|eyj|private key|basic"
)
_HINT = re2.compile(_HINT_PATTERN)
# The same for `hinted`, which needs no groups and reads UTF-8 bytes: the RE2 binding converts
# offsets between characters and bytes at every match of a str, and finds a match's groups;
# without both the scan takes a third of the time.
_ANY_HINT = re2.compile(re.sub(r"\(\?P<\w+>", "(?:", _HINT_PATTERN).encode())


def hinted(texts: list[str]) -> set[int]:
    """Which of `texts` hold a literal some rule needs (the others need no `redact_text`).

    One RE2 pass over the texts joined, where calling the prefilter on each of a trace's
    ~120k fields took most of the search index build (bench/README.md); after a text's first
    hint the scan goes on at the next text. No hint spans two texts: none matches NUL.
    """
    encoded = [text.encode() for text in texts]
    starts = list(itertools.accumulate([len(data) + 1 for data in encoded[:-1]], initial=0))
    joined = b"\x00".join(encoded)
    found: set[int] = set()
    position = 0
    while (match := _ANY_HINT.search(joined, position)) is not None:  # each turn moves to a later text
        index = bisect.bisect_right(starts, match.start()) - 1
        found.add(index)
        if index + 1 == len(starts):
            break
        position = starts[index + 1]
    return found


def redact_text(text: str) -> str:
    """The text with every credential-shaped substring replaced."""
    stems, shaped, url = _hints(text)
    if not (stems or shaped or url):
        return text
    if shaped:
        text = _SECRET_TEXT.sub(REDACTED, text)
        if "asic" in text or "ASIC" in text:
            text = _BASIC.sub(_mask_basic, text)
    if url and "@" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    if stems and ("=" in text or ":" in text):
        if shaped or url:  # the text changed: find the key words again
            stems = _hints(text)[0]
        text = _mask_key_values(text, stems)
    return text


def _hints(text: str) -> tuple[list[int], bool, bool]:
    """Where key words start, whether a credential shape's literal occurs, whether a URL does."""
    stems: list[int] = []
    shaped = url = False
    for hint in _HINT.finditer(text):
        if hint.group("stem") is not None:
            stems.append(hint.start())
        elif hint.group("url") is not None:
            url = True
        else:
            shaped = True
    return stems, shaped, url


def _mask_basic(match: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(match.group(1) + "=" * (-len(match.group(1)) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return match.group(0).replace(match.group(1), REDACTED) if b":" in decoded else match.group(0)


def _mask_key_values(text: str, stems: list[int]) -> str:
    """Mask the value of every credential-keyed pair.

    Pairs are looked for only around a key word (`stems`, from `_hints`): from each one, back to
    where its key begins, then `_KEY_VALUE` at that point. Running `_KEY_VALUE` at every word of
    every field cost three times the rest of redaction. A pair whose key is no credential is
    passed over by its key only: its value may hold pairs of its own (JSON inside a string).
    """
    parts: list[str] = []
    done = 0
    for start in stems:
        if start < done:
            continue
        floor = max(done, start - 80)
        while start > floor and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            start -= 1
        if start > done and text[start - 1] in "\"'":
            start -= 1 + (start > done + 1 and text[start - 2] == "\\")
        match = _KEY_VALUE.match(text, start)
        if match is None:
            continue
        group = next(g for g in ("esc", "dq", "sq", "bare") if match.group(g) is not None)
        if _masks(match, match.group(group)):
            parts.append(text[done : match.start(group)])
            parts.append(REDACTED)
            done = match.end(group)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _masks(match: re.Match[str], value: str) -> bool:
    kind = _key_class(match.group("key"))
    if kind == 0 or value == REDACTED or value.lower() in _KEEP_BARE:
        return False
    # `"token_count": 12`, `max_tokens=500`: counts, not credentials
    return kind == 2 or bool(match.group("scheme")) or not value.lstrip("-").replace(".", "", 1).isdigit()


def redact_value(key: str | None, value: Any) -> Any:
    """A value as a tool may show it: secret-keyed values hidden, credential text masked, recursively."""
    return _redact(key, value, redact_text)


def value_redactor(values: Iterable[Any]) -> Callable[[str | None, Any], Any]:
    """`redact_value` for many values known beforehand (a trace outline shows ~180): their texts'
    hints found in one RE2 pass (`hinted`) instead of one per text, and the values with nothing to
    mask (most) returned as they are instead of copied; those two were most of an outline's cost.
    A value that was not among `values` is redacted in full, so none is ever shown unmasked."""
    kept = list(values)  # alive as long as the redactor: their ids stay theirs
    texts: list[str] = []
    owners: list[int] = []
    plain: set[int] = set()
    for position, value in enumerate(kept):
        if isinstance(value, str):  # most values: no walk needed
            texts.append(value)
            owners.append(position)
            plain.add(position)
        elif _plain(value, position, texts, owners):
            plain.add(position)
    dirty = hinted(texts)
    plain.difference_update(owners[i] for i in dirty)
    plain_ids = {id(kept[position]) for position in plain}
    clean = set(texts).difference([texts[i] for i in dirty])

    def text(value: str) -> str:
        return value if value in clean else redact_text(value)

    def show(key: str | None, value: Any) -> Any:
        if id(value) in plain_ids and not (key is not None and is_secret_key(key)):
            return value
        return _redact(key, value, text)

    return show


def _plain(value: Any, position: int, texts: list[str], owners: list[int]) -> bool:
    """Whether `value` holds only JSON values and no credential-named key; its texts are added to
    `texts` (`owners` says whose), to be checked for hints all at once."""
    plain = True
    pending = [value]
    while pending:  # every nested value once: bounded by the value's size
        item = pending.pop()
        if isinstance(item, str):
            texts.append(item)
            owners.append(position)
        elif isinstance(item, dict):
            plain = plain and not any(map(_key_class, map(str, item)))
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif not (item is None or isinstance(item, (bool, int, float))):
            plain = False
    return plain


def _redact(key: str | None, value: Any, text: Callable[[str], str]) -> Any:
    """`redact_value`, with `text` masking credential text."""
    if value is None:
        return value
    if isinstance(value, (bool, int, float)):
        return REDACTED if key is not None and _key_class(key) == 2 else value
    if key is not None and is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {k: _redact(str(k), v, text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(None, v, text) for v in value]
    return text(str(value))
