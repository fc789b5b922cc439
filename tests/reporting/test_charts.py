"""The PDF's SVG charts: well-formed, titled, described in words, gaps left as gaps."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.utils import translation

from reporting import charts

SVG = "{http://www.w3.org/2000/svg}"
D0 = dt.date(2026, 10, 1)
NBSP = "\xa0"  # French digit grouping


@pytest.fixture(autouse=True)
def _french() -> None:
    with translation.override("fr"):
        yield


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 -- our own output
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    return root


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert charts.nice_ticks(0, 1234) == [0, 500, 1000, 1500]
    assert charts.nice_ticks(0, 12345) == [0, 5000, 10000, 15000]
    assert charts.nice_ticks(0, 7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(0, 0.8) == [0, 0.2, 0.4, 0.6, 0.8]
    assert charts.nice_ticks(5, 5) == [4, 6, 8, 10]  # flat data still gets an axis


def test_line_chart_has_title_description_and_a_gap_for_missing_days() -> None:
    points = [(D0 + dt.timedelta(days=i), 100.0 + i) for i in range(10)]
    points[4] = (points[4][0], None)  # the network gave nothing that day
    svg = charts.line_chart("Abonnés en octobre 2026", [charts.Series("Abonnés", points)])
    root = _parse(svg)
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text == "Abonnés en octobre 2026"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    # in words: lowest, highest and last value with their days
    assert desc.text == "Abonnés : de 100 (1 octobre) à 109 (10 octobre), 109 le 10 octobre."
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 2  # one run before the gap, one after: no zero drawn
    assert paths[0].get("d").count("L") == 3 and paths[1].get("d").count("L") == 4


def test_line_chart_series_differ_by_dash_as_well_as_colour() -> None:
    a = charts.Series("Facebook", [(D0, 1.0), (D0 + dt.timedelta(days=1), 2.0)])
    b = charts.Series("Instagram", [(D0, 3.0), (D0 + dt.timedelta(days=1), 1.0)])
    root = _parse(charts.line_chart("Portée", [a, b]))
    paths = root.findall(f"{SVG}path")
    assert paths[0].get("stroke") != paths[1].get("stroke")
    assert paths[0].get("stroke-dasharray") is None and paths[1].get("stroke-dasharray")
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "Facebook" in labels and "Instagram" in labels  # legend


def test_text_is_escaped() -> None:
    svg = charts.bar_chart("<script>", [("A & B <i>", 3.0)])
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == "<script>"
    assert "<script>" not in svg and "A &amp; B &lt;i&gt;" in svg


def test_bar_chart_writes_not_provided_rather_than_zero() -> None:
    svg = charts.bar_chart(
        "Portée par réseau", [("Facebook", 12345.0), ("X", None), ("Mastodon", 0.0)]
    )
    root = _parse(svg)
    desc = root.find(f"{SVG}desc").text.replace(NBSP, " ")
    assert desc == "Facebook : 12 345 ; X : non fourni ; Mastodon : 0."
    bars = root.findall(f"{SVG}rect")[1:]  # the first rect is the background
    assert len(bars) == 2  # Facebook and Mastodon (zero is a value), none for X
    widths = sorted(float(r.get("width")) for r in bars)
    assert widths[0] == 1.0 and widths[1] > 300
    texts = [t.text.replace(NBSP, " ") for t in root.iter(f"{SVG}text")]
    assert "non fourni" in texts and "12 345" in texts
    # the axis reaches past the longest bar
    assert "15 000" in texts


def test_empty_charts_say_so() -> None:
    for svg in (
        charts.line_chart("Portée", [charts.Series("Portée", [(D0, None)])]),
        charts.bar_chart("Par réseau", []),
    ):
        root = _parse(svg)
        assert root.find(f"{SVG}desc").text == "Aucune donnée pour cette période."


def test_the_pdf_cuts_a_long_accounts_table_to_the_most_followed() -> None:
    from reporting import report, tables

    rows = [[f"Compte {i}", "Facebook", i, None, None, None, None, None, 0, None, None, None]
            for i in range(40)]  # fmt: skip
    table = tables.Table(key="comptes", title="Par compte", columns=[tables.Column("x")] * 12,
                         rows=rows)  # fmt: skip
    short = report._shortened(table)
    assert [r[0] for r in short.rows][:3] == ["Compte 39", "Compte 38", "Compte 37"]
    assert len(short.rows) == report.PDF_MAX_ROWS
    assert "25 comptes les plus suivis sur 40" in short.note and "CSV" in short.note
    other = tables.Table(key="reseaux", title="Par réseau", columns=[tables.Column("x")] * 12,
                         rows=rows)  # fmt: skip
    assert report._shortened(other) is other
