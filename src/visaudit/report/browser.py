"""The failure browser: ``failures.html``, galleries of what went wrong, from stored records only.

Per model: the misclassified samples of every accuracy record with their top-5 (from the
per-sample table; thumbnails drawn from the dataset files, verified against the record's
content fingerprint, see :mod:`visaudit.report.thumbnails`), the worst corruption per image
(the corruptions probe's gallery and per-sample table), and any other record's
``data["gallery"]`` (the contract of :mod:`visaudit.probes.gallery`: counterfactuals,
attributions, ...); records of probes that compare models (disagreement) get their own
section. The page is one self-contained file (images inline as data URIs, lazy-loaded,
a Content-Security-Policy that forbids any network load) with keyboard navigation:
arrow keys or j / k move between gallery items, Enter opens an enlarged view, Escape closes it.

Example:
    >>> from visaudit.report.records import RecordBook, load_records   # doctest: +SKIP
    >>> book = RecordBook(load_records("store"), "store")               # doctest: +SKIP
    >>> render_browser(book, Path("report"))                            # doctest: +SKIP
    BrowserResult(path=PosixPath('report/failures.html'), ...)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from visaudit.report.assets import BROWSER_CSS, BROWSER_JS, CSS
from visaudit.report.records import RecordBook, is_ok, model_name, n_of, probe_name, probe_version
from visaudit.report.thumbnails import DatasetImages, Thumbnail, png_uri

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
MAX_ITEMS = 32  # gallery items per record on the page
MAX_ARTIFACT_BYTES = 2_000_000
CROSS_MODEL = {"disagreement"}  # probes whose records compare models: their own section


@dataclass
class Shown:
    """One image of a gallery item: a data URI, or a placeholder with its reason."""

    label: str
    thumb: Thumbnail


@dataclass
class Item:
    """One gallery item as the page shows it."""

    sample: str
    caption: str
    images: list[Shown]
    extra: str = ""  # trusted HTML built here (the top-5 table)


@dataclass
class Gallery:
    """A titled list of items drawn from one record."""

    title: str
    record: dict[str, Any]
    items: list[Item]
    note: str = ""


@dataclass
class BrowserResult:
    """What :func:`render_browser` wrote."""

    path: Path
    galleries: list[str] = field(default_factory=list)  # gallery ids in page order
    n_items: int = 0
    n_placeholders: int = 0
    notes: list[str] = field(default_factory=list)


# -- reading records -------------------------------------------------------------------------------


def _samples(book: RecordBook, rec: dict[str, Any]) -> Any:
    """The record's per-sample table as a DataFrame, or None."""
    rel = rec.get("samples_file")
    if not isinstance(rel, str):
        return None
    path = book.store_dir / rel
    if not path.is_file():
        return None
    import pandas as pd

    return pd.read_parquet(path)


def _artifact(book: RecordBook, rec: dict[str, Any], name: Any) -> Thumbnail:
    """A gallery artifact of ``rec`` as a data URI; only PNGs the record lists are shown."""
    if not isinstance(name, str) or not name.lower().endswith(".png") or "/" in name or "\\" in name:
        return Thumbnail("", f"not a PNG artifact name: {name!r}"[:200])
    rel = f"artifacts/{rec.get('key')}/{name}"
    if rel not in (rec.get("artifacts") or []):
        return Thumbnail("", f"{name}: not among the record's artifacts")
    path = book.artifact_path(rel)
    if path is None:
        return Thumbnail("", f"{name}: missing from the store")
    data = path.read_bytes()
    if len(data) > MAX_ARTIFACT_BYTES or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Thumbnail("", f"{name}: not a small PNG file")
    return Thumbnail(png_uri(data))


def class_names(rec: dict[str, Any]) -> list[str]:
    """The dataset label space's class names, in index order, from an accuracy record's ``per_class``."""
    per_class = (rec.get("data") or {}).get("per_class")
    return [str(c) for c in per_class] if isinstance(per_class, dict) else []


def _name(names: list[str], i: Any) -> str:
    try:
        j = int(i)
    except (TypeError, ValueError):
        return "?"
    return names[j] if 0 <= j < len(names) else f"class {j}"


def misclassified(book: RecordBook, rec: dict[str, Any], images: DatasetImages) -> Gallery | None:
    """The accuracy record's misclassified samples, most confident first, with their top-5."""
    rows = _samples(book, rec)
    need = {"sample_id", "label", "pred", "correct", "confidence", "topk_index", "topk_prob"}
    if rows is None or not need <= set(rows.columns):
        return None
    names = class_names(rec)
    wrong = rows[~rows["correct"].astype(bool)]
    shown = wrong.sort_values(["confidence", "sample_id"], ascending=[False, True], kind="stable").head(MAX_ITEMS)
    items = []
    for r in shown.itertuples(index=False):
        idx, prob = list(r.topk_index)[:5], list(r.topk_prob)[:5]
        cells = "".join(
            f'<tr class="{"true" if int(i) == int(r.label) else ""}"><td class="l">{escape(_name(names, i))}</td>'
            f"<td>{float(p):.3f}</td></tr>"
            for i, p in zip(idx, prob)
        )
        if int(r.label) not in [int(i) for i in idx] and hasattr(r, "p_true"):
            cells += (
                f'<tr class="true out"><td class="l">{escape(_name(names, r.label))} (true)</td>'
                f"<td>{float(r.p_true):.3f}</td></tr>"
            )
        top5 = f'<table class="top5" aria-label="top-5 predictions"><tbody>{cells}</tbody></table>'
        caption = f"true: {_name(names, r.label)} · predicted: {_name(names, r.pred)} (p={float(r.confidence):.2f})"
        thumb = images.thumbnail(rec.get("dataset") or {}, str(r.sample_id))
        items.append(Item(str(r.sample_id), caption, [Shown("image", thumb)], top5))
    note = (
        f"{len(wrong)} of {len(rows)} samples misclassified"
        + (f"; the {len(shown)} most confident mistakes shown" if len(wrong) > len(shown) else "")
        + ". Top-5 from the per-sample table; the true class is marked. Thumbnails are read from the "
        "dataset files and shown only while the dataset's content fingerprint equals the record's."
    )
    return Gallery("Misclassified", rec, items, note)


def contract_gallery(book: RecordBook, rec: dict[str, Any], title: str, note: str = "") -> Gallery | None:
    """A record's ``data["gallery"]`` (the gallery contract); malformed entries are skipped."""
    raw = (rec.get("data") or {}).get("gallery")
    if not isinstance(raw, list) or not raw:
        return None
    items = []
    for entry in raw[:MAX_ITEMS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("images"), list):
            continue
        shown = [
            Shown(str(im.get("label", "")), _artifact(book, rec, im.get("artifact")))
            for im in entry["images"]
            if isinstance(im, dict)
        ]
        if shown:
            items.append(Item(str(entry.get("sample", "")), str(entry.get("caption", "")), shown))
    if not items:
        return None
    return Gallery(title, rec, items, note)


def worst_corruption(book: RecordBook, rec: dict[str, Any]) -> Gallery | None:
    """The corruptions record's gallery, with how often each condition was the worst one."""
    rows = _samples(book, rec)
    note = "Images with the largest drop of the true-class probability, beside their worst corruption."
    if rows is not None and "worst_condition" in rows.columns and len(rows):
        counts = rows["worst_condition"].value_counts()
        top = ", ".join(f"{c}: {int(n)}" for c, n in counts.head(6).items())
        note += f" Worst condition over all {len(rows)} images: {top}."
    return contract_gallery(book, rec, "Worst corruption per image", note)


# -- HTML ------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def _image_html(s: Shown, sample: str) -> str:
    label = escape(s.label)
    if s.thumb.uri:
        return (
            f'<figure><img loading="lazy" decoding="async" src="{s.thumb.uri}" '
            f'alt="{label} of {escape(sample)}"><figcaption>{label}</figcaption></figure>'
        )
    reason = escape(s.thumb.reason)
    return (
        f'<figure><div class="ph" role="img" aria-label="no image: {reason}" title="{reason}">no image'
        f"<small>{reason}</small></div><figcaption>{label}</figcaption></figure>"
    )


class _Writer:
    def __init__(self, book: RecordBook, out_dir: Path) -> None:
        self.book, self.out_dir = book, out_dir
        self.ids: list[str] = []
        self.n_items = self.n_placeholders = 0

    def link(self, rec: dict[str, Any]) -> str:
        target = self.book.record_path(rec).resolve()
        try:
            return quote(Path(os.path.relpath(target, self.out_dir.resolve())).as_posix())
        except ValueError:  # another drive on Windows
            return target.as_uri()

    def gallery(self, g: Gallery) -> str:
        gid = f"gallery-{len(self.ids) + 1}"
        self.ids.append(gid)
        rec = g.record
        n = n_of(rec)
        src = (
            f"{escape(probe_name(rec))} v{escape(probe_version(rec))} · {escape(self.book.cell(rec))} · "
            f'n={n if n is not None else "?"} · <a href="{self.link(rec)}">record</a>'
        )
        items = []
        for k, it in enumerate(g.items):
            self.n_items += 1
            self.n_placeholders += sum(not s.thumb.uri for s in it.images)
            label = f"{g.title}, item {k + 1} of {len(g.items)}: {it.caption}"
            items.append(
                f'<li class="gi" tabindex="0" data-sample="{escape(it.sample)}" aria-label="{escape(label)}">'
                f'<div class="gims">{"".join(_image_html(s, it.sample) for s in it.images)}</div>'
                f'<div class="cap">{escape(it.caption)}</div><div class="sid">{escape(it.sample)}</div>{it.extra}</li>'
            )
        note = f'<p class="meta">{escape(g.note)}</p>' if g.note else ""
        return (
            f'<section class="gallery-sec" id="{gid}" data-probe="{escape(probe_name(rec))}">'
            f'<h3>{escape(g.title)} <span class="dir">{src}</span></h3>{note}'
            f'<ul class="gallery" aria-label="{escape(g.title)} · {escape(self.book.cell(rec))}">{"".join(items)}</ul>'
            "</section>"
        )


def _galleries_of(book: RecordBook, rec: dict[str, Any], images: DatasetImages) -> list[Gallery]:
    if not is_ok(rec):
        return []
    probe = probe_name(rec)
    if probe == "accuracy":
        g = misclassified(book, rec, images)
    elif probe == "corruptions":
        g = worst_corruption(book, rec)
    else:
        g = contract_gallery(book, rec, probe.replace("-", " ").capitalize())
    return [g] if g is not None else []


def render_browser(book: RecordBook, out_dir: Path, title: str = "visaudit failure browser") -> BrowserResult:
    """Write ``<out_dir>/failures.html`` from the records of ``book``.

    Args:
        book: the store's records.
        out_dir: where ``index.html`` lives (the page links back to it).
        title: page title.

    Returns:
        the written path, the gallery ids in page order and counts of items and placeholders.
    """
    images = DatasetImages()
    w = _Writer(book, out_dir)
    notes: list[str] = []
    cross, per_model = [], []
    for rec in sorted(book.latest.values(), key=lambda r: (probe_name(r), book.cell(r), model_name(r))):
        if probe_name(rec) in CROSS_MODEL:
            try:
                cross += [w.gallery(g) for g in _galleries_of(book, rec, images)]
            except Exception as exc:  # noqa: BLE001 - a malformed record must not break the page
                notes.append(f"{model_name(rec)} {probe_name(rec)}: {type(exc).__name__}: {exc}")
    nav = []
    for m in book.models():
        parts = []
        for rec in book.for_model(m):
            if probe_name(rec) in CROSS_MODEL:
                continue
            try:
                parts += [w.gallery(g) for g in _galleries_of(book, rec, images)]
            except Exception as exc:  # noqa: BLE001 - a malformed record must not break the page
                notes.append(f"{m} {probe_name(rec)}: {type(exc).__name__}: {exc}")
        if parts:
            sid = f"fm-{_slug(m)}"
            nav.append(f'<a href="#{sid}">{escape(m)}</a>')
            per_model.append(f'<section class="card" id="{sid}"><h2>{escape(m)}</h2>{"".join(parts)}</section>')
    cross_html = (
        '<section class="card" id="fm-across"><h2>Across models</h2>' + "".join(cross) + "</section>" if cross else ""
    )
    if cross:
        nav.insert(0, '<a href="#fm-across">across models</a>')
    empty = (
        ""
        if cross or per_model
        else '<p class="meta">No record with something to show: run the accuracy probe (misclassified '
        "samples), the corruptions probe (worst corruption) or a probe that stores a gallery.</p>"
    )
    help_ = (
        '<p class="meta" id="keys">Keys: <kbd>→</kbd>/<kbd>j</kbd> next item, <kbd>←</kbd>/<kbd>k</kbd> previous, '
        "<kbd>Enter</kbd> enlarge, <kbd>Esc</kbd> close. Every image is a thumbnail embedded in this file.</p>"
    )
    viewer = (
        '<div id="viewer" role="dialog" aria-modal="true" aria-labelledby="viewer-cap" hidden>'
        '<div class="vbox"><button type="button" id="viewer-close" aria-label="close the enlarged view">×</button>'
        '<div id="viewer-ims"></div><p id="viewer-cap"></p><p class="meta" id="viewer-pos"></p></div></div>'
    )
    doc = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}{BROWSER_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>store {escape(str(book.store_dir))} · {w.n_items} items in "
        f"{len(w.ids)} galleries · from stored records only</p></header>"
        f'<nav><a href="index.html">report</a>{"".join(nav)}</nav><main>{help_}{cross_html}{"".join(per_model)}'
        f"{empty}</main>{viewer}<script>{BROWSER_JS}</script></body></html>"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "failures.html"
    path.write_text(doc, encoding="utf-8")
    return BrowserResult(path, w.ids, w.n_items, w.n_placeholders, notes)
