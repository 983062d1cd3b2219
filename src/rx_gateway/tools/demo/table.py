"""The table `rx-gateway demo` prints: one line per step, every cell whole."""

from __future__ import annotations

import textwrap

from rx_gateway.domain.money import format_cents
from rx_gateway.tools.demo.scenarios import Outcome

DETAIL_WIDTH = 60  # a longer detail wraps onto lines of its own, under the detail column


def render(outcomes: list[Outcome]) -> str:
    """The table: every cell whole (a long detail wraps, nothing is cut)."""
    columns = ("#", "scenario", "want", "got", "F5 member", "plan", "purse", "ok", "detail")
    rows = []
    for number, o in enumerate(outcomes, 1):
        want = o.step.status + ("/" + ",".join(o.step.rejects) if o.step.rejects else "")
        got = o.status + ("/" + ",".join(o.rejects) if o.rejects else "")
        rows.append(
            (
                str(number),
                o.step.label,
                want,
                got,
                format_cents(o.patient_pay_cents),
                format_cents(o.plan_paid_cents),
                format_cents(o.purse_paid_cents),
                "yes" if o.passed else "NO",
                o.detail,
            )
        )
    widths = [max(len(row[i]) for row in (columns, *rows)) for i in range(len(columns) - 1)]
    indent = sum(widths) + 2 * len(widths)  # where the detail column starts

    def line(cells: tuple[str, ...]) -> str:
        padded = [
            cell.rjust(width) if index in (0, 4, 5, 6) else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=False))
        ]
        detail = textwrap.wrap(
            cells[-1], DETAIL_WIDTH, break_long_words=False, break_on_hyphens=False
        ) or [""]
        first = "  ".join([*padded, detail[0]]).rstrip()
        return "\n".join([first, *(" " * indent + more for more in detail[1:])])

    body = [line(row) for row in rows]
    rule = "-" * max((len(text) for block in body for text in block.splitlines()), default=0)
    lines = [line(columns), rule, *body]
    passed = sum(o.passed for o in outcomes)
    lines.append(f"{passed} of {len(outcomes)} scripted claims answered as expected")
    return "\n".join(lines)
