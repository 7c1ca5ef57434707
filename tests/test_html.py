"""HTML input: detection, extraction, hostile pages, and the labels of the page's text through the CLI."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SHARED_SEEDS
from toolkit.cleaning import _DEFAULT_MAX_CHARS, clean, prepare
from toolkit.cli import app
from toolkit.html import extract, looks_like_html

runner = CliRunner()
SAMPLES = sorted((ROOT / "seeds" / "samples").glob("*.txt"))
ARTICLE = (
    "Foundry expands\n\n"
    "The foundry will produce semiconductors on a new 3 nanometre process, the company said on Monday.\n\n"
    "Demand for GPUs and memory chips strained the wafer supply across the industry this year.\n\n"
    "The start-up raised 40 million dollars in a funding round led by venture investors.\n"
)


def page(text: str, lang: str = "en") -> str:
    """``text`` as a saved web page: head, scripts, a menu, the article's lines as paragraphs, footer."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines[1:])
    ld = json.dumps({"@type": "NewsArticle", "articleBody": "Robots and fabs raised billions."})
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(lines[0])} | Site</title>
<style>body {{ margin: 0 }}</style><script>var a = 1 < 2; window.x = "<p>not text</p>";</script>
<script type="application/ld+json">{ld}</script></head>
<body><header><nav><ul><li><a href="/">Home</a></li><li><a href="/w">World</a></li>
<li><a href="/t">Technology</a></li></ul></nav></header>
<main><article><h1>{html.escape(lines[0])}</h1>
{paragraphs}
</article><aside><h2>Related</h2><ul><li><a href="/r">Weather turns cold in the north</a></li></ul></aside>
</main><footer><p>&copy; 2025 Example News. All rights reserved.</p></footer>
<div id="cookie-consent"><p>We use cookies to improve your experience.</p><button>Accept</button></div>
</body></html>"""


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


# ---- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<!DOCTYPE html><html><body><p>Hello</p></body></html>",
        "\ufeff  <!doctype HTML>\n<title>x</title>",
        '<?xml version="1.0" encoding="utf-8"?>\n<!-- saved -->\n<html lang="en"><p>x</p></html>',
        "<html>\n<body>Only a body</body></html>",
        "<div><h2>Title</h2><p>One paragraph of a fragment.</p><p>Another one.</p><p>A third.</p></div>",
    ],
)
def test_pages_and_fragments_are_detected(text):
    assert looks_like_html(text)


@pytest.mark.parametrize(
    "text",
    [
        ARTICLE,
        "Revenue grew 5% as costs < sales, and margins > 20% for the first time since 2019.\n" * 3,
        'The tutorial shows how a page starts: <div class="main"><p>Hello</p></div>, then styles.\n\n'
        + "Web developers have used this pattern for two decades, the author says in the book.\n" * 20,
        "if (a<b && c>d) { return x<y; }\n" * 5,
        "<3 this launch\n\nThe start-up raised 40 million dollars in a funding round.\n",
        "",
    ],
)
def test_plain_text_with_angle_brackets_or_a_snippet_is_not_html(text):
    assert not looks_like_html(text)


def test_no_sample_and_no_wrapped_page_of_the_cleaning_corpus_is_taken_for_html():
    texts = [path.read_text(encoding="utf-8") for path in SAMPLES]
    with (ROOT / "tests" / "data" / "wrapped.jsonl").open(encoding="utf-8") as handle:
        texts += ["".join(s["text"] for s in json.loads(line)["segments"]) for line in handle]
    assert texts and not any(map(looks_like_html, texts))


# ---- extraction ---------------------------------------------------------------------------


def test_extraction_keeps_the_visible_text_and_drops_head_scripts_and_styles():
    found = extract(page(ARTICLE))
    body = found.body
    assert body.splitlines()[0] == "Foundry expands"
    assert "The foundry will produce semiconductors on a new 3 nanometre process" in body
    for hidden in ("| Site", "margin", "not text", "Robots and fabs", "window.x", "Accept"):
        assert hidden not in body
    chrome = {block.text: block.chrome for block in found.blocks if block.chrome}
    assert chrome["Home"] == "<header>" and chrome["Weather turns cold in the north"] == "<aside>"
    assert chrome["© 2025 Example News. All rights reserved."] == "<footer>"
    assert chrome["We use cookies to improve your experience."] == "cookie notice"


def test_inline_markup_and_entities_stay_inside_one_line_and_br_breaks_it():
    text = extract(
        "<!DOCTYPE html><p>Chips &amp; <a href='#'>GPUs</a>\n  sold <b>out</b>.<br>Next line</p>"
    ).body
    assert text == "Chips & GPUs sold out.\nNext line"


def test_blocks_name_the_source_line_they_start_on():
    found = extract("<!DOCTYPE html>\n<html>\n<body>\n<!-- a\ncomment -->\n<p>Here</p>\n</body></html>")
    assert [(block.text, block.line) for block in found.blocks] == [("Here", 5)]


def test_clean_gives_the_text_versions_body_and_names_the_page_chrome():
    from_html, from_text = clean(page(ARTICLE)), clean(ARTICLE)
    assert from_html.body == from_text.body
    assert not from_html.lines  # body lines are not lines of the input: evidence must not map them
    reasons = {block.text: block.reason for block in from_html.removed}
    assert reasons["Home"] == "page chrome (<header>)"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_samples_as_pages_clean_to_the_same_body(path):
    text = path.read_text(encoding="utf-8")
    assert clean(page(text)).body == clean(text).body


# ---- hostile pages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<!DOCTYPE html><html><body>" + "<div>" * 20_000 + "deep text" + "</div>" * 20_000,
        "<!DOCTYPE html><p>" + "<a " * 20_000,
        "<!DOCTYPE html><p>" + "<" * 40_000,
        "<!DOCTYPE html><p>text<!--" + "x" * 200_000,
        "<!DOCTYPE html><p>" + "</b " * 20_000 + "<![CDATA[ " * 5_000 + "<?x " * 5_000,
        "<!DOCTYPE html><table><tr><td>cell<p>para</span></table></p></td>" * 500,
    ],
    ids=["nested", "unclosed-tags", "stray-lt", "unclosed-comment", "bogus-markup", "misnested"],
)
def test_hostile_markup_is_read_in_linear_time(text):
    start = time.perf_counter()
    result, _ = prepare(text)
    assert time.perf_counter() - start < 5  # the stdlib tokenizer alone takes minutes on some of these
    assert isinstance(result.body, str)


def test_deep_nesting_keeps_its_text():
    assert extract("<!DOCTYPE html><body>" + "<div>" * 5_000 + "deep text").body == "deep text"


def test_a_foreign_charset_claim_is_ignored_the_text_is_already_decoded():
    text = '<!DOCTYPE html><html><head><meta charset="windows-1251"></head><body><p>Привет, «мир» 東京</p>'
    assert extract(text).body == "Привет, «мир» 東京"
    xml = '<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>Grüße</p></body></html>'
    assert extract(xml).body == "Grüße"


def test_a_script_that_reads_like_an_article_is_never_text():
    story = "The start-up raised 40 million dollars in a funding round led by venture investors. " * 20
    text = f"<!DOCTYPE html><script>/* {story} */</script><script type=text/template><p>{story}</p></script>"
    assert extract(text + "<p>Rain is expected across the region later this week.</p>").body == (
        "Rain is expected across the region later this week."
    )


def test_a_huge_page_is_cut_and_says_so():
    paragraph = "<p>" + "The foundry will produce semiconductors on a new process. " * 20 + "</p>\n"
    text = "<!DOCTYPE html><body>" + paragraph * 3_000  # 3.5 MB of markup, 3.5 MB of text
    result, cut = prepare(text)
    assert cut and 0 < len(result.body.replace("\n\n", "\n")) <= _DEFAULT_MAX_CHARS  # text read, capped


def test_a_page_of_nothing_but_chrome_still_has_a_body():
    text = "<!DOCTYPE html><nav><p>The foundry will produce semiconductors on a new 3 nanometre process.</p>"
    assert "foundry" in prepare(text)[0].body


# ---- the same labels as the text, through the CLI ------------------------------------------


def test_classify_a_page_gives_the_labels_and_language_of_its_text(model_file, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "a.html").write_text(page(ARTICLE), encoding="utf-8")
    records = []
    for name in ("a.txt", "a.html"):
        result = run("classify", tmp_path / name, "--model", model_file, "--json")
        assert result.exit_code == 0, result.output
        records.append(json.loads(result.output))
    keys = ("language", "wrapper_language", "labels", "scores")
    assert [records[1][k] for k in keys] == [records[0][k] for k in keys]
    assert "chips" in records[0]["labels"]


def test_evidence_of_a_page_points_into_the_page(fitted):
    text = page(ARTICLE)
    (explained,) = fitted.explain([text])
    (plain,) = fitted.explain([ARTICLE])
    assert explained and set(explained) == set(plain)
    for sentences in explained.values():
        assert sentences
        for sentence in sentences:
            assert text[sentence["start"] : sentence["end"]] == sentence["text"]
            assert "<" not in sentence["text"]


def test_label_with_html_in_text_gives_the_labels_of_the_text(model_file, tmp_path):
    texts = [ARTICLE, *(path.read_text(encoding="utf-8") for path in SAMPLES)]
    source = tmp_path / "in.jsonl"
    rows = [{"id": f"t{i}", "text": text} for i, text in enumerate(texts)]
    rows += [{"id": f"h{i}", "text": page(text)} for i, text in enumerate(texts)]
    rows.append({"id": "broken", "text": "<!DOCTYPE html><p>Chips</b></i><div<<><p"})
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("label", source, "--output", out, "--model", model_file)
    assert result.exit_code == 0, result.output
    records = {record["id"]: record for record in map(json.loads, out.read_text().splitlines())}
    for i in range(len(texts)):
        text_record, html_record = records[f"t{i}"], records[f"h{i}"]
        for key in ("language", "labels", "scores"):
            assert html_record[key] == text_record[key], (i, key)
    assert records["broken"]["status"] == "ok"


def test_shipped_fast_model_reads_the_samples_as_pages_as_it_reads_their_text():
    from toolkit.classifier import TopicClassifier
    from toolkit.language import detect_documents

    model = TopicClassifier.load(ROOT / "models" / "fast.safetensors")
    texts = [path.read_text(encoding="utf-8") for path in SAMPLES]
    pages = [page(text) for text in texts]
    assert model.predict(pages) == model.predict(texts)
    as_text = detect_documents([prepare(text)[0] for text in texts])
    as_page = detect_documents([prepare(text)[0] for text in pages])
    assert [found.language for found in as_page] == [found.language for found in as_text]


@pytest.mark.skipif(not SHARED_SEEDS.exists(), reason="the shared seed articles are not here")
def test_shipped_fast_model_reads_the_seed_articles_as_pages_as_it_reads_their_text():
    from toolkit.classifier import TopicClassifier

    model = TopicClassifier.load(ROOT / "models" / "fast.safetensors")
    texts = [path.read_text(encoding="utf-8") for path in sorted(Path(SHARED_SEEDS).glob("0*.txt"))]
    assert model.predict([page(text) for text in texts]) == model.predict(texts)
