"""The content checker and its files: rule kinds hit and miss on the labelled corpus, rule files
validated line by line, ``wxmon content scan --json`` in the SPEC's shape."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

from probes.content_check import KINDS, Checker, load_sets, sample_paths, shipped_checker, shipped_paths
from probes.content_check.checker import auto_variants
from probes.content_check.rules import check_file
from wxmon.cli import main

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "content" / "corpus.yaml"
# The one labelled error the shipped rules miss: a substituted character (物 for 务) they do not list.
KNOWN_MISSES = {("fixed_expression", "退役军人事物局")}


@pytest.fixture(scope="module")
def checker() -> Checker:
    return shipped_checker()


def corpus() -> tuple[date, list[dict]]:
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    return date.fromisoformat(str(data["as_of"])), data["sentences"]


def test_corpus_hits_and_misses_per_kind(checker: Checker) -> None:
    as_of, sentences = corpus()
    labelled = dict.fromkeys(KINDS, 0)
    clean = 0
    wrong: list[tuple[str, set, set]] = []
    missed: set[tuple[str, str]] = set()
    for s in sentences:
        want = {(h["kind"], h["text"]) for h in s["hits"]}
        got = {(h.kind, h.text) for h in checker.scan_text(s["text"], as_of=as_of)}
        for kind, _ in want:
            labelled[kind] += 1
        clean += not want
        if got - want:
            wrong.append((s["text"], got, want))
        missed |= want - got
    # Every kind is exercised, with clean sentences (correct forms, near misses) beside the errors.
    assert min(labelled.values()) >= 2 and labelled["fixed_expression"] >= 25 and labelled["name_title"] >= 10
    assert clean >= 40
    assert wrong == []  # not one false alarm on the corpus
    assert missed == KNOWN_MISSES


def test_precision_and_recall_meet_the_bar(checker: Checker) -> None:
    """The issue's bar for the fixed-expression and name-title kinds (bench/bench_content.py prints them all)."""
    as_of, sentences = corpus()
    for kind in ("fixed_expression", "name_title"):
        tp = fp = fn = 0
        for s in sentences:
            want = {h["text"] for h in s["hits"] if h["kind"] == kind}
            got = {h.text for h in checker.scan_text(s["text"], as_of=as_of) if h.kind == kind}
            tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        assert tp / (tp + fp) >= 0.95 and tp / (tp + fn) >= 0.9, (kind, tp, fp, fn)


def test_each_hit_carries_rule_text_context_and_correction(checker: Checker) -> None:
    text = "会议强调，要深入学习贯彻中国共产党第二十届全国代表大会精神。"
    (hit,) = checker.scan_text(text, as_of=date(2023, 8, 1))
    assert (hit.kind, hit.rule_set, hit.rule) == ("fixed_expression", "fixed-expressions",
                                                  "fixed-expressions:中国共产党第二十次全国代表大会")
    assert text[hit.start:hit.end] == hit.text == "中国共产党第二十届全国代表大会"
    assert hit.suggestion == "中国共产党第二十次全国代表大会"
    assert "【中国共产党第二十届全国代表大会】" in hit.context and hit.revision


def test_names_and_titles_are_judged_on_the_articles_date(checker: Checker) -> None:
    # 周启明 was 区长 until 2023-06-30 and is 区委书记 from 2023-07-01 (fictional, officials-demo.yaml).
    text = "区长周启明出席会议。"
    assert checker.scan_text(text, as_of=date(2023, 6, 20)) == []
    (hit,) = checker.scan_text(text, as_of=date(2023, 7, 3))
    assert (hit.text, hit.suggestion) == ("区长周启明", "区委书记周启明")
    assert checker.scan_text("原区长周启明出席会议。", as_of=date(2023, 7, 3)) == []


def test_auto_variants_leave_correct_text_alone(checker: Checker) -> None:
    variants = auto_variants("中华人民共和国")
    assert "中华人民和共国" in variants and "中华人民共国" in variants and "中华人民共和国" not in variants
    assert all(v[0] == "中" and v[-1] == "国" for v in variants)  # the ends stay
    text = "《中华人民共和国宪法》规定，中国共产党领导是中国特色社会主义最本质的特征。"
    assert checker.scan_text(text, as_of=date(2023, 8, 1)) == []


def test_short_wrong_forms_need_word_boundaries(checker: Checker) -> None:
    assert [h.text for h in checker.scan_text("对工作进行布署。")] == ["布署"]
    assert checker.scan_text("会议公布署名文章评选结果。") == []


def test_links_in_markup_and_text(checker: Checker) -> None:
    html = ('<p>报名<a href="https://sub.rumor-sample.test/x?a=1&amp;b=2">点此</a>，'
            '或访问 www.casino-sample.invalid/p 。<a href="https://www.example.org/ok">政府网站</a>'
            '<img src="//cdn.harmful-sample.example/i.png"></p>')
    hits = checker.scan_html(html, as_of=date(2023, 8, 1))
    assert [(h.kind, h.rule) for h in hits] == [
        ("link_host", "link-hosts-sample:*.rumor-sample.test"),
        ("link_host", "link-hosts-sample:casino-sample.invalid"),
        ("link_host", "link-hosts-sample:harmful-sample.example"),
    ]
    assert hits[0].context == "链接“点此”"
    # Offsets index the markup: the href's value, the text URL as written.
    assert html[hits[1].start:hits[1].end] == "www.casino-sample.invalid/p"
    assert html[hits[2].start:hits[2].end] == "//cdn.harmful-sample.example/i.png"


def test_shipped_rule_files_are_valid() -> None:
    paths = shipped_paths() + sample_paths()
    assert {load_sets([p])[0].rules.kind for p in paths} == set(KINDS)
    # for real use: no fictional people, no sample words or hosts, unless asked for
    assert {load_sets([p])[0].rules.kind for p in shipped_paths()} == {"fixed_expression", "wrong_char"}
    for p in paths:
        assert check_file(p) == [], p


BAD_FILES = {
    "version.yaml": ("version: 2\nname: x\nrevision: a\nkind: sensitive\nrules: [{word: 甲乙}]\n",
                     ["version.yaml:1: version: format version 2 is not known (this wxmon reads 1)"]),
    "kind.yaml": ("version: 1\nname: x\nrevision: a\nkind: spelling\nrules: [{word: 甲乙}]\n",
                  ["kind.yaml:4: kind: 'spelling' is not one of fixed_expression, name_title, wrong_char, "
                   "sensitive, link_host"]),
    "fields.yaml": ("version: 1\nname: x\nrevision: a\nkind: wrong_char\nrules:\n  - {wrong: 布署, correct: 布署}\n"
                    "  - {wrong: 签定}\n  - {wrong: 按步就班, correct: 按部就班, colour: red}\n",
                    ["fields.yaml:6: rules[0]: wrong and correct are the same",
                     "fields.yaml:7: rules[1].correct: required",
                     "fields.yaml:8: rules[2].colour: unknown field"]),
    "names.yaml": ("version: 1\nname: x\nrevision: a\nkind: name_title\ntitles: [区长]\nrules:\n"
                   "  - {name: 张某某, title: 区长, since: 2023-07-01, until: 2023-06-01}\n",
                   ["names.yaml:7: rules[0]: until (2023-06-01) is before since (2023-07-01)"]),
    "hosts.yaml": ("version: 1\nname: x\nrevision: a\nkind: link_host\nrules:\n  - {host: bad.example}\n"
                   "  - {host: 'http://bad.example/'}\n  - {host: BAD.example}\n",
                   ["hosts.yaml:7: rules[1]: 'http://bad.example/' is not a host name (e.g. bad.example or "
                    "*.bad.example)"]),
    "dupes.yaml": ("version: 1\nname: x\nrevision: a\nkind: sensitive\nrules:\n  - {word: 甲乙}\n  - {word: 甲乙}\n",
                   ["dupes.yaml:7: rules[1]: '甲乙' is already listed at rules[0]"]),
    "syntax.yaml": ("version: 1\nname: [x\n", None),
    "list.yaml": ("- 1\n- 2\n", ["list.yaml:1: must be a mapping (version:, name:, revision:, kind:, rules:)"]),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_rules_check_names_file_line_and_field(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert main(["content", "rules", "check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith(f"wxmon: {path}:") for line in err)
    if expected is not None:
        assert err == [f"wxmon: {tmp_path}/{line}" for line in expected]


def test_rules_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    paths = shipped_paths() + sample_paths()
    assert main(["content", "rules", "check", *map(str, paths)]) == 0
    assert capsys.readouterr().out.count(": OK (") == len(paths) == 5


def test_scan_json_shape_and_offsets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    txt = tmp_path / "a.txt"
    txt.write_text("区委书记陈思源出席会议，工作布署到位。详见 http://www.casino-sample.invalid/x", encoding="utf-8")
    page = tmp_path / "b.html"
    page.write_text('<p>发展<b>全过程民主人民</b>。<a href="http://harmful-sample.example/">看</a></p>',
                    encoding="utf-8")
    clean = tmp_path / "c.txt"
    clean.write_text("区长陈思源出席会议。", encoding="utf-8")
    assert main(["content", "scan", "--json", "--samples", "--as-of", "2023-08-01", str(txt), str(page),
                 str(clean)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(list(r) == ["source", "kind", "rule", "start", "end", "text", "suggestion"] for r in rows)
    assert [(Path(r["source"]).name, r["kind"], r["text"], r["suggestion"]) for r in rows] == [
        ("a.txt", "name_title", "区委书记陈思源", "区长陈思源"),
        ("a.txt", "wrong_char", "布署", "部署"),
        ("a.txt", "link_host", "http://www.casino-sample.invalid/x", None),
        ("b.html", "fixed_expression", "全过程民主人民", "全过程人民民主"),
        ("b.html", "link_host", "http://harmful-sample.example/", None),
    ]
    for r in rows:
        source = Path(r["source"]).read_text(encoding="utf-8")
        assert source[r["start"]:r["end"]] == r["text"]


def test_scan_with_office_rules_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "words.yaml"
    rules.write_text("version: 1\nname: office-words\nrevision: '2026-12'\nkind: sensitive\n"
                     "rules:\n  - {word: 示例违规词}\n", encoding="utf-8")
    doc = tmp_path / "d.txt"
    doc.write_text("这里有示例违规词，也有布署。", encoding="utf-8")
    assert main(["content", "scan", "--json", "--no-shipped", "--rules", str(rules), str(doc)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["rule"], r["text"]) for r in rows] == [("office-words:示例违规词", "示例违规词")]


def test_scan_refuses_bad_rules_and_binary_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("version: 1\nname: x\nrevision: a\nkind: sensitive\nrules: []\n", encoding="utf-8")
    doc = tmp_path / "d.txt"
    doc.write_text("正文", encoding="utf-8")
    assert main(["content", "scan", "--rules", str(rules), str(doc)]) == 2
    assert capsys.readouterr().err.startswith(f"wxmon: {rules}:5: rules:")
    blob = tmp_path / "x.bin"
    blob.write_bytes(b"\x00\x01binary")
    assert main(["content", "scan", str(blob), str(doc)]) == 2
    assert "not scanned: binary file" in capsys.readouterr().err


def test_samples_only_when_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "d.txt"
    doc.write_text("区委书记陈思源出席会议，工作布署到位。", encoding="utf-8")
    assert main(["content", "scan", "--json", str(doc)]) == 0
    assert [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()] == ["wrong_char"]
    assert main(["content", "scan", "--json", "--samples", "--as-of", "2023-08-01", str(doc)]) == 0
    assert [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()] == ["name_title", "wrong_char"]


def test_config_check_names_a_broken_office_rule_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "accounts.yaml").read_text(encoding="utf-8")
    config = tmp_path / "accounts.yaml"
    config.write_text(text.replace("content: {samples: true}", "content: {samples: true, rules: [office.yaml]}"),
                      encoding="utf-8")
    assert main(["config", "check", "--no-env", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (f"{config}: content.rules[0]: {tmp_path}/office.yaml:1: cannot read: "
                                               "No such file or directory")
    (tmp_path / "office.yaml").write_text("version: 1\nname: office\nrevision: a\nkind: sensitive\n"
                                          "rules:\n  - {word: 甲乙, colour: red}\n", encoding="utf-8")
    assert main(["config", "check", "--no-env", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (f"{config}: content.rules[0]: {tmp_path}/office.yaml:6: "
                                               "rules[0].colour: unknown field")
    (tmp_path / "office.yaml").write_text("version: 1\nname: office\nrevision: a\nkind: sensitive\n"
                                          "rules:\n  - {word: 甲乙}\n", encoding="utf-8")
    assert main(["config", "check", "--no-env", str(config)]) == 0
