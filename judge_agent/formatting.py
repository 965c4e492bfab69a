"""How figures read, on a terminal and in the HTML report: one home, so both say the same thing.

Two precisions on purpose: the terminal's tables show three significant digits (`figure`:
kappa 0.333, mean 3.46) and shares to a tenth of a percent, where a gate like `--fail-under`
must be readable to that precision; the report page rounds for reading at a glance (`number`:
two decimals at most; whole percents).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from judge_agent.numeric import Interval

#: What a cell shows for a figure that does not exist (no verdicts, no price).
MISSING = "-"
TO = "\u2013"  # an en dash, as in printed ranges


def number(value: float) -> str:
    """Two decimals at most, without trailing zeros: 3.4, 12, 1,234.57."""
    text = f"{value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def percent(share: float, decimals: int = 0) -> str:
    """A share (0.5) as a percent: '50%', or '50.0%' with `decimals=1`."""
    return f"{100 * share:.{decimals}f}%"


def figure(value: float | None, share: bool = False) -> str:
    """A terminal cell: a share to a tenth of a percent, any other number to three significant digits."""
    if value is None:
        return MISSING
    return percent(value, 1) if share else f"{value:.3g}"


def interval(bounds: Interval, share: bool = False, *, page: bool = False) -> str:
    """'[16.7%, 83.3%]' on a terminal; '95% CI 17%-83%' (an en dash) on the page."""
    if page:
        show = percent if share else number
        return f"95% CI {show(bounds.low)}{TO}{show(bounds.high)}"
    return f"[{figure(bounds.low, share)}, {figure(bounds.high, share)}]"


def cost(value: float | None) -> str:
    """Dollars: cents for a dollar or more, four decimals below (judging one item costs fractions of a cent)."""
    if value is None:
        return MISSING
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def duration(seconds: float) -> str:
    """'4.2 s', '3 min 5 s', '2 h 10 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def count(number: int, noun: str) -> str:
    """'1 item', '3 items'."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
