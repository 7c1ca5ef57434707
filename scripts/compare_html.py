"""Compare HTML text extractors on the seed articles and samples rendered as saved web pages.

Each plain-text page (the five seed articles in ../shared/seeds when that folder
exists, and the samples in seeds/samples) is rendered here, at run time, as a
page a browser would save: doctype, head with meta tags, styles and scripts
(one holding article-like text, one JSON-LD), a header with a navigation menu,
the article's paragraphs with inline links and entities, an aside of related
links, a newsletter form, a footer and a cookie banner. Nothing rendered is
written to disk.

Every candidate turns the page into text, which the toolkit's cleaner then
cleans as usual. The reference is the plain-text page cleaned as today. Per
candidate: milliseconds per page (extraction only, median of --runs runs of every
page), how many pages give the reference's body language and its labels with
the fast model, the body length as a share of the reference's, the share of the
reference's body words found (recall), and what the candidate installs.

Usage (the candidates are not toolkit dependencies: install them in a scratch venv):
    python -m venv /tmp/html-venv && /tmp/html-venv/bin/pip install -e . trafilatura justext selectolax lxml
    /tmp/html-venv/bin/python scripts/compare_html.py [--runs 7] [--model fast]
A candidate that is not installed is reported as such and skipped.
"""

from __future__ import annotations

import argparse
import html
import importlib
import importlib.metadata as metadata
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from toolkit.cleaning import _clean_text, clean  # noqa: E402
from toolkit.html import _BLOCK, _CHROME, _HIDDEN  # noqa: E402

SEEDS = ROOT.parent / "shared" / "seeds"
SAMPLES = ROOT / "seeds" / "samples"
_WORD = re.compile(r"\w+")
_CHROME_WORDS = {
    "en": ("Home", "World", "Business", "Technology", "Markets", "Opinion", "Sign in", "Subscribe"),
    "ar": ("الرئيسية", "العالم", "اقتصاد", "تكنولوجيا", "رياضة", "رأي", "تسجيل الدخول", "اشترك"),
    "ja": ("ホーム", "国際", "経済", "テクノロジー", "スポーツ", "オピニオン", "ログイン", "会員登録"),
    "fr": ("Accueil", "Monde", "Économie", "Technologie", "Sport", "Opinions", "Se connecter", "S'abonner"),
}
_COOKIE = {
    "en": "We use cookies to improve your experience and measure our audience. Accept all or manage choices.",
    "ar": "نستخدم ملفات تعريف الارتباط لتحسين تجربتك وقياس جمهورنا. اقبل الكل أو اختر الإعدادات.",
    "ja": "当サイトでは利便性向上と閲覧状況の把握のためにクッキーを使用しています。同意してご利用ください。",
    "fr": "Nous utilisons des cookies pour améliorer votre expérience et mesurer notre audience.",
}
_FOOTER = {
    "en": "© 2025 The Daily Ledger. All rights reserved. Privacy policy | Terms of use | Contact",
    "ar": "© 2025 صحيفة الخليج اليوم. جميع الحقوق محفوظة. سياسة الخصوصية | شروط الاستخدام",
    "ja": "© 2025 東海経済ウェブ 無断転載を禁じます。プライバシーポリシー | 利用規約",
    "fr": "© 2025 Le Quotidien. Tous droits réservés. Politique de confidentialité | Mentions légales",
}
# An English teaser hidden in a script template: the text of another article, never shown.
_SCRIPT_ARTICLE = (
    "A chipmaker raised four billion dollars to build a new fab, and a robotics alliance was formed. "
    "Investors committed fresh funding to humanoid robots and GPUs."
)
_STYLE = "body{font-family:sans-serif;margin:0}.nav li{display:inline-block}#cookie{position:fixed;bottom:0}"
_SCRIPT = (
    "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag('js',new Date());"
)


def pages(seeds: Path) -> list[dict]:
    """The plain-text pages: id, text, wrapper language."""
    found = []
    if (seeds / "labels.jsonl").exists():
        for line in (seeds / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            text = (seeds / entry["file"]).read_text(encoding="utf-8")
            found.append({"id": entry["file"][:3], "text": text, "wrapper": entry["wrapper_language"]})
    wrappers = {
        "en_in_arabic_chrome": "ar",
        "ja_with_menus": "ja",
        "en_ticker_newsletter": "en",
        "fr_plain": "fr",
    }
    for name, wrapper in wrappers.items():
        found.append(
            {"id": name, "text": (SAMPLES / f"{name}.txt").read_text(encoding="utf-8"), "wrapper": wrapper}
        )
    return found


def _inline(text: str, rng: random.Random) -> str:
    """A line as page markup: escaped, with a link or an emphasis around one of its words."""
    words = text.split(" ")
    if len(words) > 6:
        at = rng.randrange(len(words))
        tag = rng.choice(["a", "strong", "em"])
        opening = '<a href="/topic/x">' if tag == "a" else f"<{tag}>"
        head, word, tail = " ".join(words[:at]), words[at], " ".join(words[at + 1 :])
        return f"{html.escape(head)} {opening}{html.escape(word)}</{tag}> {html.escape(tail)}".strip()
    return html.escape(text)


def render(page: dict, seed: int = 0) -> str:
    """The page as a browser would save it; the cleaner's own split decides header, article and aside."""
    rng = random.Random(seed)
    lines = [line.strip() for line in page["text"].splitlines() if line.strip()]
    kept = set(clean("\n".join(lines)).lines)
    first = min(kept) if kept else 0
    last = max(kept) if kept else len(lines) - 1
    lang = page["wrapper"]
    words = _CHROME_WORDS[lang]
    headline = lines[first] if kept else ""
    body_text = " ".join(lines[i] for i in sorted(kept))
    menu = "".join(f'<li><a href="/{i}">{html.escape(w)}</a></li>' for i, w in enumerate(words))
    top = "".join(f'<div class="strip">{_inline(line, rng)}</div>\n' for line in lines[:first])
    article = []
    for i in range(first, last + 1):
        line = lines[i]
        if i == first:
            article.append(f"<h1>{html.escape(line)}</h1>")
        elif i in kept:
            article.append(f"<p>{_inline(line, rng)}</p>")
        else:
            article.append(f'<div class="meta">{html.escape(line)}</div>')
    related = "".join(
        f'<li><a href="/r/{i}">{html.escape(line)}</a></li>' for i, line in enumerate(lines[last + 1 :])
    )
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": headline,
            "articleBody": body_text,
        },
        ensure_ascii=False,
    ).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="og:title" content="{html.escape(headline)}">
<meta name="description" content="{html.escape(body_text[:160])}">
<title>{html.escape(headline)} | {html.escape(words[0])}</title>
<link rel="stylesheet" href="/static/site.css">
<style>{_STYLE}</style>
<script>{_SCRIPT}</script>
<script type="application/ld+json">{ld}</script>
<script type="text/template" id="teaser"><div class="card"><p>{_SCRIPT_ARTICLE}</p></div></script>
</head>
<body class="article-page">
<header class="site-header"><a class="logo" href="/">{html.escape(words[0])}</a>
<nav class="nav" role="navigation"><ul>{menu}</ul></nav>
<a href="/login">{html.escape(words[-2])}</a>
<a class="btn" href="/subscribe">{html.escape(words[-1])}</a></header>
<main>
{top}<article>
{chr(10).join(article)}
</article>
<aside class="related"><h2>{html.escape(words[3])}</h2><ul>{related}</ul></aside>
<form class="newsletter" action="/nl"><label for="e">{html.escape(words[-1])}</label>
<input id="e" type="email" placeholder="email"><button type="submit">OK</button></form>
</main>
<footer><p>{html.escape(_FOOTER[lang])}</p><ul>{menu}</ul></footer>
<div id="cookie" class="cookie-banner"><p>{html.escape(_COOKIE[lang])}</p><button>OK</button></div>
<script src="/static/app.js" async></script>
<script>document.querySelectorAll('.nav li').forEach(function(li){{li.onclick=function(){{}}}});</script>
</body>
</html>
"""


def _div_soup(page_html: str) -> str:
    """The page with header, nav, main, article, aside and footer as plain divs, and no role or id hints."""
    page_html = re.sub(r"<(/?)(?:header|nav|main|article|aside|footer)\b", r"<\1div", page_html)
    return page_html.replace(' role="navigation"', "").replace(
        'id="cookie" class="cookie-banner"', 'class="n"'
    )


# ---- candidates: HTML in, text for the cleaner out ------------------------------------------


def _toolkit(page_html: str) -> str:
    from toolkit.html import extract

    return extract(page_html).body


def _trafilatura(page_html: str) -> str:
    import trafilatura

    return trafilatura.extract(page_html, include_comments=False, include_tables=True) or ""


def _justext(page_html: str) -> str:
    import justext

    # Language-independent mode (no stop list): the page's language is what we want to find out.
    paragraphs = justext.justext(page_html, frozenset(), stopwords_low=0, stopwords_high=0)
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def _selectolax(page_html: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(page_html)
    tree.strip_tags(sorted(_HIDDEN | _CHROME))
    root = tree.body
    if root is None:
        return ""
    lines, current = [], []
    for node in root.traverse(include_text=True):
        if node.tag == "-text":
            current.append(node.text_content or "")
        elif node.tag in _BLOCK:
            lines.append(" ".join("".join(current).split()))
            current = []
    lines.append(" ".join("".join(current).split()))
    return "\n".join(line for line in lines if line)


def _lxml(page_html: str) -> str:
    import lxml.html
    from lxml import etree

    root = lxml.html.document_fromstring(page_html)
    for element in list(root.iter(*(_HIDDEN | _CHROME))):
        element.drop_tree()
    lines, current = [], []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(element.tag, str):
            continue
        if element.tag in _BLOCK:
            lines.append(" ".join("".join(current).split()))
            current = []
        if event == "start" and element.text:
            current.append(element.text)
        if event == "end" and element.tail:
            current.append(element.tail)
    lines.append(" ".join("".join(current).split()))
    return "\n".join(line for line in lines if line)


CANDIDATES = {
    "raw HTML (before)": (lambda page_html: page_html, None),
    "html.parser (stdlib) + our block walker": (_toolkit, None),
    "trafilatura": (_trafilatura, "trafilatura"),
    "justext (no stop list)": (_justext, "justext"),
    "selectolax (lexbor) + block walker": (_selectolax, "selectolax"),
    "lxml.html + block walker": (_lxml, "lxml"),
}
_MODULES = {"trafilatura": "trafilatura", "justext": "justext", "selectolax": "selectolax", "lxml": "lxml"}


def install_size(dist: str, seen: set[str] | None = None) -> tuple[float, set[str]]:
    """MB on disk of ``dist`` and every installed distribution it requires (not extras), and their names."""
    seen = set() if seen is None else seen
    name = dist.lower().replace("_", "-")
    if name in seen:
        return 0.0, seen
    try:
        found = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return 0.0, seen
    seen.add(name)
    size = sum(f.size or 0 for f in found.files or []) / 2**20
    for requirement in found.requires or []:
        if "extra ==" in requirement:
            continue
        marker_free = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
        size += install_size(marker_free, seen)[0]
    return size, seen


def _cleaned(text: str, from_html: bool):
    return clean(text) if from_html else _clean_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--model", default="fast")
    parser.add_argument(
        "--seeds", type=Path, default=SEEDS, help="folder of the seed articles (skipped if absent)"
    )
    parser.add_argument("--show", help="print the cleaned body one candidate gives each page")
    args = parser.parse_args(argv)
    from toolkit.classifier import TopicClassifier
    from toolkit.language import detect_document

    model = TopicClassifier.load(_model_path(args.model))
    plain = pages(args.seeds)
    rendered = [render(page, seed) for seed, page in enumerate(plain)]
    # The same pages as "div soup": no semantic elements, roles or telling class names.
    rendered += [_div_soup(page_html) for page_html in rendered]
    plain = plain + plain
    reference = [_clean_text(page["text"]) for page in plain]
    ref_lang = [detect_document(result) for result in reference]
    ref_labels = model.predict([page["text"] for page in plain])
    print(
        f"{len(plain)} pages, HTML {min(map(len, rendered))}-{max(map(len, rendered))} characters",
        file=sys.stderr,
    )
    rows = []
    for name, (extract, dist) in CANDIDATES.items():
        if dist is not None:
            try:
                importlib.import_module(_MODULES[dist])
            except ImportError:
                rows.append({"candidate": name, "note": "not installed"})
                continue
        times, texts = [], []
        for page_html in rendered:
            runs = []
            for _ in range(args.runs):
                start = time.perf_counter()
                text = extract(page_html)
                runs.append(time.perf_counter() - start)
            times.append(statistics.median(runs))
            texts.append(text)
        ours = name.startswith("html.parser")
        results = [
            clean(page_html) if ours else _clean_text(text)
            for page_html, text in zip(rendered, texts, strict=True)
        ]
        found = [detect_document(result) for result in results]
        labels = model.score_bodies([r.body or t.strip() for r, t in zip(results, texts, strict=True)])
        labels = model.labels_from_proba(labels)
        same_lang = sum(a.language == b.language for a, b in zip(found, ref_lang, strict=True))
        same_wrapper = sum(
            a.wrapper_language == b.wrapper_language for a, b in zip(found, ref_lang, strict=True)
        )
        same_labels = sum(sorted(a) == sorted(b) for a, b in zip(labels, ref_labels, strict=True))
        ratios = [len(r.body) / max(1, len(ref.body)) for r, ref in zip(results, reference, strict=True)]
        recall = [_recall(r.body, ref.body) for r, ref in zip(results, reference, strict=True)]
        size = (
            f"{install_size(dist)[0]:.1f} MB, {len(install_size(dist)[1])} packages" if dist else "0 (stdlib)"
        )
        rows.append(
            {
                "candidate": name,
                "ms_per_page_median": round(statistics.median(times) * 1000, 2),
                "ms_per_page_max": round(max(times) * 1000, 2),
                "body_language": f"{same_lang}/{len(plain)}",
                "wrapper_language": f"{same_wrapper}/{len(plain)}",
                "labels": f"{same_labels}/{len(plain)}",
                "body_length_vs_text": f"{min(ratios):.2f}-{max(ratios):.2f}",
                "body_words_kept": f"{min(recall):.2f}-{max(recall):.2f}",
                "install": size,
            }
        )
        if args.show and args.show in name:
            for page, result in zip(plain, results, strict=True):
                print(f"==== {page['id']}\n{result.body}\n", file=sys.stderr)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    for name, (extract, dist) in CANDIDATES.items():
        if dist is None and name.startswith("raw"):
            continue
        if dist is not None and not any(row["candidate"] == name and "labels" in row for row in rows):
            continue
        print(json.dumps({"candidate": name, **_hostile(extract, rendered[0])}, ensure_ascii=False))
    return 0


def _hostile(extract, page_html: str) -> dict:
    """Milliseconds (or the error) on hostile pages: huge, deep, malformed, a foreign charset claim."""
    body_at = page_html.index("<main>")
    cases = {
        "page_1MB": page_html[:body_at] + page_html[body_at:-16] * (1_000_000 // (len(page_html) - body_at)),
        "nested_100k": "<!DOCTYPE html><html><body>" + "<div>" * 100_000 + "deep text" + "</div>" * 100_000,
        "lt_200k": "<!DOCTYPE html><p>" + "<" * 200_000,
        "open_tags_100k": "<!DOCTYPE html><p>" + "<a " * 100_000,
        "unclosed_comment": "<!DOCTYPE html><p>text<!--" + "x" * 1_000_000,
        "xml_charset_claim": '<?xml version="1.0" encoding="windows-1251"?>' + page_html,
    }
    out = {}
    for case, text in cases.items():
        start = time.perf_counter()
        try:
            extracted = extract(text)
            out[case] = f"{(time.perf_counter() - start) * 1000:.0f} ms, {len(extracted)} chars"
        except Exception as exc:  # noqa: BLE001 - the point is to see what each library raises
            out[case] = f"{type(exc).__name__}: {str(exc)[:60]}"
    return out


def _recall(body: str, reference: str) -> float:
    """Share of the reference body's distinct words that the body has."""
    want = set(_WORD.findall(reference.lower()))
    return len(want & set(_WORD.findall(body.lower()))) / max(1, len(want))


def _model_path(name: str) -> Path:
    shipped = ROOT / "models" / f"{name}.safetensors"
    return shipped if shipped.exists() else Path(name)


if __name__ == "__main__":
    sys.exit(main())
