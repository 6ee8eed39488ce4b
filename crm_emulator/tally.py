"""Totals of a tally object (Invoice, Quote, ...) exactly as `/tally/{model}/{id}` returns them.

Contract (pure, no I/O, no Django)::

    compute_tally(record, groups, lines, adjustments) -> dict

Inputs are plain dicts as stored by the emulator:

* ``record``: the parent record (Invoice, Quote). Returned as a shallow copy under
  ``"record"``; it is *not* modified and its ``amount`` is *not* read. Callers that store
  an amount must store ``result["totals"]["total"]``.
* ``groups``: ``{"id", "name", "position"?}``. Output order is ``position`` (then input order).
* ``lines``: ``{"id", "line_group_id", "parent_id"?, "name", "quantity", "unit_price",
  "is_comment"?, "sum_of_components"?, "mfr_part_no"?, "serial_no"?, "position"?}``.
  A line whose ``parent_id`` names another line is a *component* of that line (a product
  assembly) and is nested under it in ``components``; components may themselves have
  components. Any stored ``ext_price`` is ignored and recomputed.
* ``adjustments``: ``{"line_group_id", "type", "name", "rate"?, "amount"?, "position"?}``.

A line or adjustment naming an unknown group, or a component naming an unknown parent,
raises ``ValueError``: silently dropping money would make totals lie.

Numbers may be given as str, int, float or Decimal (floats go through ``str``). Booleans
may be bool, 0/1 or "0"/"1"/"true"/"false"/"yes"/"no".

Rules (one group at a time; all arithmetic in Decimal, every computed money value is
rounded ROUND_HALF_UP to 2 places as soon as it is computed, so sums of rounded values are
exact and the printed lines always add up):

1. ``ext_price = round(quantity * unit_price)`` for each non-comment line.
   Comment lines (``is_comment``) carry text only: quantity, unit_price and ext_price are
   rendered as ``None`` and count for nothing.
2. Assemblies: if a line has ``sum_of_components`` set, its ``unit_price`` is the sum of its
   components' ext_price (component quantities are *per one assembly*), so
   ``ext_price = round(quantity * sum(component ext_price))``. Otherwise the parent's own
   unit_price counts and components are informational (their prices are shown but never
   added). Components never add to the group subtotal directly.
3. ``subtotal`` = sum of the top-level lines' ext_price.
4. Discounts come first, on the subtotal: ``StdPercentDiscount`` and ``StandardDiscount``
   with a rate take ``rate`` percent of the subtotal; ``StdFixedDiscount`` (or
   ``StandardDiscount`` without a rate) take ``amount``. ``discounted = subtotal - discount``.
5. Shipping: ``TaxedShipping`` and ``UntaxedShipping`` add their ``amount``.
6. Taxes: ``StandardTax`` is ``rate`` percent of ``discounted + taxed shipping`` (untaxed
   shipping is never taxed). ``CompoundedTax`` is ``rate`` percent of that base plus the
   taxes before it in the group (tax on tax, as in Quebec's old QST).
   Adjustments are otherwise processed in ``position`` order.
7. ``group total = subtotal - discount + shipping (taxed and untaxed) + taxes``.
8. Unknown adjustment types raise ``ValueError``.

Output (the NOTES.md shape; every money value is a string with exactly 2 decimals like
``"1234.50"``, never a float; ``rate`` and ``quantity`` are plain decimal strings without
trailing zeros such as ``"19"``, ``"7.5"``, ``"2"``)::

    {"record": {...},
     "groups": [{"name", "subtotal", "total",
                 "line_items": [{"name", "quantity", "unit_price", "ext_price", "is_comment",
                                 "sum_of_components", "components": [<line_item>...],
                                 "mfr_part_no", "serial_no"}],
                 "adjusts": [{"type", "name", "rate", "value"}]}],
     "totals": {"subtotal", "discount", "shipping", "shipping_taxed",
                "taxes": [{"name", "rate", "amount"}], "total"}}

``adjusts[].value`` is always the non-negative amount of that adjustment; its ``type``
says whether it is subtracted (discounts) or added. ``rate`` is ``None`` for fixed amounts.
In ``totals``: ``discount`` is the sum of discounts (non-negative, subtracted);
``shipping`` is *all* shipping (taxed + untaxed) and ``shipping_taxed`` the taxed part of it;
``taxes`` merges equal (name, rate) pairs over groups in first-seen order. Always
``total == subtotal - discount + shipping + sum(taxes)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

DISCOUNT_TYPES = frozenset({"StdPercentDiscount", "StdFixedDiscount", "StandardDiscount"})
SHIPPING_TYPES = frozenset({"TaxedShipping", "UntaxedShipping"})
TAX_TYPES = frozenset({"StandardTax", "CompoundedTax"})
ADJUSTMENT_TYPES = DISCOUNT_TYPES | SHIPPING_TYPES | TAX_TYPES


def to_decimal(value: Any) -> Decimal:
    """Parse a stored number; empty means zero."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return Decimal(str(value).strip())


def money(value: Decimal) -> Decimal:
    """Round half-up to cents, the way an invoice is printed."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value: Decimal) -> str:
    return str(money(value))


def plain_str(value: Decimal) -> str:
    """ "19.000" -> "19", "7.50" -> "7.5", never scientific notation."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _ordered(items: Iterable[dict]) -> list[dict]:
    """Sort by position, keeping input order for equal or missing positions."""
    indexed = list(enumerate(items))
    indexed.sort(key=lambda pair: (to_decimal(pair[1].get("position")), pair[0]))
    return [item for _, item in indexed]


def _line_item(line: dict, children: dict[str, list[dict]]) -> tuple[dict, Decimal]:
    """Render one line with its components; return it and its ext_price (0 for comments)."""
    components = []
    components_sum = Decimal(0)
    for child in _ordered(children.get(str(line.get("id")), [])):
        rendered, ext = _line_item(child, children)
        components.append(rendered)
        components_sum += ext
    sum_of_components = to_bool(line.get("sum_of_components"))
    item = {
        "name": line.get("name") or "",
        "quantity": None,
        "unit_price": None,
        "ext_price": None,
        "is_comment": to_bool(line.get("is_comment")),
        "sum_of_components": sum_of_components,
        "components": components,
        "mfr_part_no": line.get("mfr_part_no") or "",
        "serial_no": line.get("serial_no") or "",
    }
    if item["is_comment"]:
        return item, Decimal(0)
    quantity = to_decimal(line.get("quantity"))
    unit_price = components_sum if sum_of_components else money(to_decimal(line.get("unit_price")))
    ext_price = money(quantity * unit_price)
    item.update(
        quantity=plain_str(quantity),
        unit_price=money_str(unit_price),
        ext_price=money_str(ext_price),
    )
    return item, ext_price


def _group(group: dict, lines: list[dict], adjustments: list[dict]) -> tuple[dict, dict]:
    """Render one group; also return its raw sums for the totals."""
    line_ids = {str(line.get("id")) for line in lines}
    children: dict[str, list[dict]] = {}
    top: list[dict] = []
    for line in lines:
        parent = line.get("parent_id")
        if parent:
            if str(parent) not in line_ids:
                raise ValueError(f"line {line.get('id')!r} names unknown parent {parent!r}")
            children.setdefault(str(parent), []).append(line)
        else:
            top.append(line)

    line_items = []
    subtotal = Decimal(0)
    for line in _ordered(top):
        item, ext = _line_item(line, children)
        line_items.append(item)
        subtotal += ext

    ordered_adjustments = _ordered(adjustments)
    for adjustment in ordered_adjustments:
        if adjustment.get("type") not in ADJUSTMENT_TYPES:
            raise ValueError(f"unknown adjustment type {adjustment.get('type')!r}")

    values: dict[int, Decimal] = {}
    discount = Decimal(0)
    for index, adj in enumerate(ordered_adjustments):
        if adj["type"] in DISCOUNT_TYPES:
            rate = adj.get("rate")
            percent = adj["type"] == "StdPercentDiscount" or (
                adj["type"] == "StandardDiscount" and rate not in (None, "")
            )
            value = (
                money(subtotal * to_decimal(rate) / HUNDRED)
                if percent
                else money(to_decimal(adj.get("amount")))
            )
            values[index] = value
            discount += value
    shipping_taxed = Decimal(0)
    shipping_untaxed = Decimal(0)
    for index, adj in enumerate(ordered_adjustments):
        if adj["type"] in SHIPPING_TYPES:
            value = money(to_decimal(adj.get("amount")))
            values[index] = value
            if adj["type"] == "TaxedShipping":
                shipping_taxed += value
            else:
                shipping_untaxed += value
    tax_base = subtotal - discount + shipping_taxed
    taxes: list[tuple[str, Decimal, Decimal]] = []
    tax_sum = Decimal(0)
    for index, adj in enumerate(ordered_adjustments):
        if adj["type"] in TAX_TYPES:
            rate = to_decimal(adj.get("rate"))
            base = tax_base + (tax_sum if adj["type"] == "CompoundedTax" else 0)
            value = money(base * rate / HUNDRED)
            values[index] = value
            tax_sum += value
            taxes.append((adj.get("name") or adj["type"], rate, value))

    adjusts = []
    for index, adj in enumerate(ordered_adjustments):
        rate_value = adj.get("rate")
        fixed = (
            adj["type"] in SHIPPING_TYPES
            or adj["type"] == "StdFixedDiscount"
            or (adj["type"] == "StandardDiscount" and rate_value in (None, ""))
        )
        adjusts.append(
            {
                "type": adj["type"],
                "name": adj.get("name") or adj["type"],
                "rate": None if fixed else plain_str(to_decimal(rate_value)),
                "value": money_str(values[index]),
            }
        )

    total = subtotal - discount + shipping_taxed + shipping_untaxed + tax_sum
    rendered = {
        "name": group.get("name") or "",
        "subtotal": money_str(subtotal),
        "total": money_str(total),
        "line_items": line_items,
        "adjusts": adjusts,
    }
    sums = {
        "subtotal": subtotal,
        "discount": discount,
        "shipping_taxed": shipping_taxed,
        "shipping_untaxed": shipping_untaxed,
        "taxes": taxes,
        "total": total,
    }
    return rendered, sums


def compute_tally(
    record: dict, groups: list[dict], lines: list[dict], adjustments: list[dict]
) -> dict:
    """Build the `/tally` answer for one record; see the module docstring for the rules."""
    group_ids = [str(group.get("id")) for group in groups]
    lines_by_group: dict[str, list[dict]] = {gid: [] for gid in group_ids}
    adjustments_by_group: dict[str, list[dict]] = {gid: [] for gid in group_ids}
    for line in lines:
        gid = str(line.get("line_group_id"))
        if gid not in lines_by_group:
            raise ValueError(f"line {line.get('id')!r} names unknown group {gid!r}")
        lines_by_group[gid].append(line)
    for adjustment in adjustments:
        gid = str(adjustment.get("line_group_id"))
        if gid not in adjustments_by_group:
            raise ValueError(f"adjustment {adjustment.get('id')!r} names unknown group {gid!r}")
        adjustments_by_group[gid].append(adjustment)

    rendered_groups = []
    subtotal = discount = shipping_taxed = shipping_untaxed = total = Decimal(0)
    taxes: dict[tuple[str, Decimal], Decimal] = {}
    for group in _ordered(groups):
        gid = str(group.get("id"))
        rendered, sums = _group(group, lines_by_group[gid], adjustments_by_group[gid])
        rendered_groups.append(rendered)
        subtotal += sums["subtotal"]
        discount += sums["discount"]
        shipping_taxed += sums["shipping_taxed"]
        shipping_untaxed += sums["shipping_untaxed"]
        total += sums["total"]
        for name, rate, amount in sums["taxes"]:
            key = (name, rate.normalize())
            taxes[key] = taxes.get(key, Decimal(0)) + amount

    return {
        "record": dict(record),
        "groups": rendered_groups,
        "totals": {
            "subtotal": money_str(subtotal),
            "discount": money_str(discount),
            "shipping": money_str(shipping_taxed + shipping_untaxed),
            "shipping_taxed": money_str(shipping_taxed),
            "taxes": [
                {"name": name, "rate": plain_str(rate), "amount": money_str(amount)}
                for (name, rate), amount in taxes.items()
            ],
            "total": money_str(total),
        },
    }
