"""HTML assembly: every piece of text is escaped here, and the page needs nothing from the network."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from bench.report.units import fmt_number

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f; }
main { max-width: 1280px; margin: 0 auto; padding: 1rem 2rem 4rem; }
header { background: #f4f5f7; border-bottom: 1px solid #ddd; padding: 1rem 2rem; }
header h1 { margin: 0 0 .3rem; font-size: 1.5rem; }
nav a { margin-right: 1rem; }
h2 { border-bottom: 2px solid #e3e3e3; padding-bottom: .2rem; margin-top: 2.5rem; }
h3 { margin-top: 1.5rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 12.5px; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; vertical-align: top; }
th { background: #f4f5f7; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
table.headline { font-size: 14px; }
table.headline td { padding: .4rem .7rem; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; }
figcaption, .caption { color: #444; font-size: 13px; margin-top: .3rem; }
p.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4rem .7rem; }
p.lead { font-size: 15px; }
.scroll { overflow: auto; max-height: 70vh; border: 1px solid #ddd; }
details summary { cursor: pointer; margin: .5rem 0; }
code { font-size: 12.5px; }
"""


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    body: str  # HTML, built only by the functions below


HEADERS = {"device_label": "device"}  # column names shown differently in every table


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def paragraph(text: str, cls: str = "") -> str:
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def note(text: str) -> str:
    """A left-out plot or a caveat, shown where the plot would have been."""
    return paragraph(text, "note")


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def figure(uri: str, caption: str, alt: str) -> str:
    return f'<figure><img src="{esc(uri)}" alt="{esc(alt)}"><figcaption>{esc(caption)}</figcaption></figure>'


def table(
    data: pd.DataFrame,
    headers: Mapping[str, str] | None = None,
    formats: Mapping[str, Callable[[object], str]] | None = None,
    cls: str = "",
    text_columns: Sequence[str] = (),
) -> str:
    """`data` as an HTML table; cells through `formats[column]` (default `fmt_number`), then escaped."""
    headers, formats = {**HEADERS, **(headers or {})}, formats or {}
    columns = list(data.columns)
    text = {c for c in columns if c in text_columns or not pd.api.types.is_numeric_dtype(data[c])}
    head = "".join(_cell("th", headers.get(c, c), c in text) for c in columns)
    body = []
    for row in data.itertuples(index=False, name=None):
        cells = (_cell("td", formats.get(c, fmt_number)(v), c in text) for c, v in zip(columns, row, strict=True))
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(tag: str, value: object, text: bool) -> str:
    return f'<{tag} class="text">{esc(value)}</{tag}>' if text else f"<{tag}>{esc(value)}</{tag}>"


def details(summary: str, body: str) -> str:
    return f'<details><summary>{esc(summary)}</summary><div class="scroll">{body}</div></details>'


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole document: inline CSS, a contents bar, the sections; no script, no external resource."""
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><div>{esc(subtitle)}</div><nav>{nav}</nav></header>"
        f"<main>{body}</main></body></html>\n"
    )
