"""compute_tally: the rules from its docstring, on hand-checked numbers and generated ones."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_emulator.tally import compute_tally

RECORD = {"id": "inv-1", "name": "Test"}


def line(id_, group="g1", **fields):
    return {"id": id_, "line_group_id": group, **fields}


def adj(type_, group="g1", **fields):
    return {"line_group_id": group, "type": type_, "name": fields.pop("name", type_), **fields}


def test_hand_checked_invoice():
    groups = [{"id": "g1", "name": "Hardware", "position": 1}]
    lines = [
        line("l1", name="Laptop", quantity="2", unit_price="1000.00", position=1),
        line("l2", name="Note: deliver to dock B", is_comment=True, position=2),
        line("l3", name="Cable", quantity=3, unit_price="9.99", position=3),
    ]
    adjustments = [
        adj("StdPercentDiscount", rate="10", position=1),
        adj("TaxedShipping", amount="20.00", position=2),
        adj("UntaxedShipping", amount="5.00", position=3),
        adj("StandardTax", name="VAT", rate="19", position=4),
    ]
    tally = compute_tally(RECORD, groups, lines, adjustments)
    # subtotal 2000 + 29.97 = 2029.97; discount 203.00 (202.997 half-up);
    # tax base 1826.97 + 20 = 1846.97; VAT 350.92 (350.9243); total 1826.97+20+5+350.92
    group = tally["groups"][0]
    assert group["subtotal"] == "2029.97"
    assert [a["value"] for a in group["adjusts"]] == ["203.00", "20.00", "5.00", "350.92"]
    assert group["adjusts"][0]["rate"] == "10"
    assert group["adjusts"][1]["rate"] is None
    assert group["total"] == "2202.89"
    comment = group["line_items"][1]
    assert comment["is_comment"] is True and comment["ext_price"] is None
    assert group["line_items"][2]["ext_price"] == "29.97"
    totals = tally["totals"]
    assert totals == {
        "subtotal": "2029.97",
        "discount": "203.00",
        "shipping": "25.00",
        "shipping_taxed": "20.00",
        "taxes": [{"name": "VAT", "rate": "19", "amount": "350.92"}],
        "total": "2202.89",
    }
    assert tally["record"] == RECORD and tally["record"] is not RECORD


def test_assembly_sums_components_and_nests_them():
    groups = [{"id": "g1", "name": "Kit"}]
    lines = [
        line("p", name="Workstation", quantity="2", unit_price="999", sum_of_components=True),
        line("c1", parent_id="p", name="Case", quantity="1", unit_price="100.00", position=1),
        line("c2", parent_id="p", name="RAM", quantity="4", unit_price="25.50", position=2),
    ]
    tally = compute_tally(RECORD, groups, lines, [])
    (item,) = tally["groups"][0]["line_items"]
    assert [c["name"] for c in item["components"]] == ["Case", "RAM"]
    assert item["unit_price"] == "202.00"  # 100 + 4*25.50, stored 999 ignored
    assert item["ext_price"] == "404.00"
    assert tally["totals"]["total"] == "404.00"


def test_assembly_without_sum_uses_own_price_only():
    lines = [
        line("p", name="Bundle", quantity="1", unit_price="50", sum_of_components="0"),
        line("c1", parent_id="p", name="Part", quantity="1", unit_price="30"),
    ]
    tally = compute_tally(RECORD, [{"id": "g1", "name": "G"}], lines, [])
    assert tally["totals"]["subtotal"] == "50.00"


def test_fixed_discount_and_compounded_tax_and_untaxed_shipping_not_taxed():
    lines = [line("l", name="Service", quantity="1", unit_price="100")]
    adjustments = [
        adj("StandardTax", name="GST", rate="5", position=3),
        adj("CompoundedTax", name="QST", rate="10", position=4),
        adj("StdFixedDiscount", amount="10", position=1),
        adj("UntaxedShipping", amount="7", position=2),
    ]
    tally = compute_tally(RECORD, [{"id": "g1", "name": "G"}], lines, adjustments)
    # base 90; GST 4.50; QST 10% of 94.50 = 9.45; total 90+7+4.50+9.45
    assert [t["amount"] for t in tally["totals"]["taxes"]] == ["4.50", "9.45"]
    assert tally["totals"]["total"] == "110.95"
    # output keeps position order
    assert [a["type"] for a in tally["groups"][0]["adjusts"]][:2] == [
        "StdFixedDiscount",
        "UntaxedShipping",
    ]


def test_taxes_merge_over_groups_and_groups_follow_position():
    groups = [
        {"id": "b", "name": "Second", "position": 2},
        {"id": "a", "name": "First", "position": 1},
    ]
    lines = [
        line("1", group="a", name="x", quantity=1, unit_price=10),
        line("2", group="b", name="y", quantity=1, unit_price=20),
    ]
    adjustments = [adj("StandardTax", group=g, name="VAT", rate="20") for g in ("a", "b")]
    tally = compute_tally(RECORD, groups, lines, adjustments)
    assert [g["name"] for g in tally["groups"]] == ["First", "Second"]
    assert tally["totals"]["taxes"] == [{"name": "VAT", "rate": "20", "amount": "6.00"}]
    assert tally["totals"]["total"] == "36.00"


def test_half_up_rounding_of_line():
    lines = [line("l", name="x", quantity="1", unit_price="0.125")]
    tally = compute_tally(RECORD, [{"id": "g1", "name": "G"}], lines, [])
    assert tally["totals"]["total"] == "0.13"


@pytest.mark.parametrize(
    "bad",
    [
        {"lines": [line("l", group="nope", name="x", quantity=1, unit_price=1)]},
        {"lines": [line("l", parent_id="ghost", name="x", quantity=1, unit_price=1)]},
        {"adjustments": [adj("StandardTax", group="nope", rate=1)]},
        {"adjustments": [adj("MysteryFee", amount=1)]},
    ],
)
def test_inconsistent_input_is_refused(bad):
    with pytest.raises(ValueError):
        compute_tally(
            RECORD, [{"id": "g1", "name": "G"}], bad.get("lines", []), bad.get("adjustments", [])
        )


def test_empty_tally_is_zero():
    tally = compute_tally(RECORD, [], [], [])
    assert tally["groups"] == []
    assert tally["totals"]["total"] == "0.00" and tally["totals"]["taxes"] == []


cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100)
quantities = st.integers(min_value=1, max_value=500).map(Decimal)
rates = st.integers(min_value=0, max_value=3000).map(lambda r: Decimal(r) / 100)


@st.composite
def tallies(draw):
    groups, lines, adjustments = [], [], []
    for g in range(draw(st.integers(1, 3))):
        gid = f"g{g}"
        groups.append({"id": gid, "name": f"Group {g}", "position": g})
        for n in range(draw(st.integers(0, 6))):
            lines.append(
                line(
                    f"{gid}l{n}",
                    group=gid,
                    name="item",
                    quantity=draw(quantities),
                    unit_price=draw(cents),
                    is_comment=draw(st.booleans()),
                )
            )
        if draw(st.booleans()):
            adjustments.append(adj("StdPercentDiscount", group=gid, rate=draw(rates) / 3))
        if draw(st.booleans()):
            adjustments.append(adj("TaxedShipping", group=gid, amount=draw(cents)))
        if draw(st.booleans()):
            adjustments.append(adj("UntaxedShipping", group=gid, amount=draw(cents)))
        adjustments.append(adj("StandardTax", group=gid, name="VAT", rate=draw(rates)))
    return groups, lines, adjustments


@settings(max_examples=150, deadline=None)
@given(tallies())
def test_totals_always_add_up(data):
    groups, lines, adjustments = data
    tally = compute_tally(RECORD, groups, lines, adjustments)
    t = {k: Decimal(v) for k, v in tally["totals"].items() if k != "taxes"}
    taxes = sum((Decimal(x["amount"]) for x in tally["totals"]["taxes"]), Decimal(0))
    assert t["total"] == t["subtotal"] - t["discount"] + t["shipping"] + taxes
    assert t["total"] == sum(Decimal(g["total"]) for g in tally["groups"])
    for group in tally["groups"]:
        ext = [Decimal(i["ext_price"]) for i in group["line_items"] if not i["is_comment"]]
        assert Decimal(group["subtotal"]) == sum(ext, Decimal(0))
        for value in [group["subtotal"], group["total"], *(a["value"] for a in group["adjusts"])]:
            assert Decimal(value).as_tuple().exponent == -2
    assert t["shipping_taxed"] <= t["shipping"]
    assert t["discount"] <= t["subtotal"]
