"""accounts.yaml as hostile input: bounded work, exact lines, one clean error line, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import Smtp, Supervisor, check_file, load_config, yamlsource
from monitor.config.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES, SourceError
from monitor.errors import BadInput
from tests.test_config import HEAD, MARK, acct, doc, marked_line, write

ROOT = Path(__file__).resolve().parents[1]
BOMB_MESSAGE = f"YAML error: aliases expand to more than {MAX_VALUES:,} values (a 'billion laughs' file?)"


def laughs(style: str) -> str:
    """A 'billion laughs' file: nine levels of nine aliases each (9^9 values)."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        if style == "flow":
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        elif style == "block":
            lines.append(f"{name}: &{name}\n" + "".join(f"  - *{prev}\n" for _ in range(9)).rstrip("\n"))
        elif style == "mapping":
            lines.append(f"{name}: &{name} {{" + ", ".join(f"k{i}: *{prev}" for i in range(9)) + "}")
        else:  # merge keys: each level merges nine mappings of the level below
            if prev == "a":
                lines[0] = "a: &a {" + ", ".join(f"k{i}: lol" for i in range(9)) + "}"
            lines.append(f"{name}: &{name}\n  <<: [" + ", ".join([f"*{prev}"] * 9) + "]\n  x: 1")
    return "timezone: Asia/Shanghai\n" + "\n".join(lines) + "\naccounts: *i\n"


def quadratic() -> str:
    """One big anchored list and many aliases to it: a 17 kB file of 6 million values."""
    return ("a: &a [" + ", ".join(["1"] * 3000) + "]\n"
            "accounts: [" + ", ".join(["*a"] * 2000) + "]\n")


@pytest.mark.parametrize("text", [laughs("flow"), laughs("block"), laughs("mapping"), laughs("merge"), quadratic()],
                         ids=["flow", "block", "mapping", "merge", "quadratic"])
def test_alias_bombs_are_refused_at_an_alias_before_anything_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = write(tmp_path, text)
    built: list[Any] = []
    monkeypatch.setattr(yamlsource._Builder, "build", lambda *args, **kwargs: built.append(args))
    tracemalloc.start()
    try:
        problems = check_file(path, check_env=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(problems) == 1, problems
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+): (.*)", problems[0])
    assert match and match.group(2) == BOMB_MESSAGE, problems
    assert "*" in text.splitlines()[int(match.group(1)) - 1]  # the line of an alias
    assert built == []  # refused while composing: nothing was expanded
    assert peak < 20 * 2**20, peak


def test_config_check_refuses_a_bomb_at_once_through_the_cli(tmp_path: Path) -> None:
    path = write(tmp_path, laughs("flow"), "bomb.yaml")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "wxmon.cli", "config", "check", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line == check_file(path)[0] and line.startswith(f"{path}:8: ")
    assert elapsed < 60  # sanity only (mostly interpreter start-up): before the fix it took minutes


def values_of(text: str) -> int:
    loader = yamlsource._Loader(text, yamlsource._Lines(text))
    loader.get_single_node()
    return loader._values


def bench_style(accounts: int) -> str:
    """Accounts as bench/bench_columns.py writes them, sharing their common fields through a merge key."""
    defaults = "x-defaults: &defaults {category: 政府部门, api: true, inquiry: {channel: none}}\n"
    return HEAD + defaults + "accounts:\n" + "".join(
        f"  - <<: *defaults\n    id: acct-{i:05d}\n    name: \"账号{i}\"\n    unit: \"单位{i}\"\n"
        f"    appid: wx{i:016x}\n    secret_env: WXMON_SECRET_ACCT_{i:05d}\n" for i in range(accounts))


def test_a_10000_account_file_with_merge_keys_is_far_below_the_bound(tmp_path: Path) -> None:
    problems = check_file(write(tmp_path, bench_style(50)), check_env=False)
    assert problems == [f"{tmp_path / 'accounts.yaml'}:3: x-defaults: unknown key"]  # valid but for the anchor's key
    assert values_of(bench_style(10_000)) * 8 < MAX_VALUES


def test_rich_accounts_merging_the_first_stay_below_the_bound(tmp_path: Path) -> None:
    """8 declared columns, a contact and 3 questions per account, each merging the first: 10,000 such
    accounts (~1 million values, 12.5 MB written out) are under the bound too."""
    columns = "".join(f"\n      - {{path: 栏目{j}/子栏目{j}, url: 'https://www.example.gov.cn/col/{j}/index.html'}}"
                      for j in range(8))
    first = acct(inquiry="{channel: manual, questions: "
                         "[请问社保卡补办需要带什么材料？, 请问办理居住证需要什么材料？, 周末可以办理吗？]}",
                 contacts="[{name: 张三, role: 运维负责人, email: zhang@example.gov.cn, phone: '010-12345678'}]",
                 columns=columns).replace("  - id:", "  - &first\n    id:", 1)
    others = "".join(f"  - <<: *first\n    id: jd-{i}\n    name: 账号{i}\n    unit: 单位{i}\n    appid: wx{i:016x}\n"
                     f"    secret_env: WXMON_SECRET_{i}\n" for i in range(200))
    path = write(tmp_path, HEAD + "accounts:\n" + first + others)
    assert check_file(path, check_env=False) == []
    assert values_of(path.read_text(encoding="utf-8")) * (10_000 // 200) * 1.5 < MAX_VALUES


def nested_block(levels: int) -> str:
    return "accounts:\n" + "".join(" " * (2 * i) + "  -\n" for i in range(levels - 1)) + " " * (2 * levels) + "- x\n"


@pytest.mark.parametrize("text,line,fragment", [
    ("accounts: " + "[" * 100_000 + "]" * 100_000 + "\n", 1, "nest"),
    ("accounts: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n", 1, "nest"),
    (nested_block(MAX_DEPTH + 5), MAX_DEPTH + 1, f"nested more than {MAX_DEPTH} levels deep"),
    ("a: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 20 + "*a" + "]" * 20 + "\naccounts: [[[[*b]]]]\n", 3,
     f"aliases nest lists and mappings more than {MAX_DEPTH} levels deep"),
], ids=["flow-100k", "flow-mapping-100k", "block", "through-aliases"])
def test_deep_nesting_is_a_located_error(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    problems = check_file(path, check_env=False)
    assert len(problems) == 1 and problems[0].startswith(f"{path}:{line}: YAML") and fragment in problems[0], \
        problems


def test_the_deepest_allowed_nesting_reaches_validation(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")  # the file is one
    problems = check_file(path, check_env=False)
    assert problems and "YAML" not in problems[0], problems


class _PurePythonLoader(yamlsource._Composer, yaml.SafeLoader):  # type: ignore[misc]
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines = yamlsource._Lines(text)


def test_the_pure_python_parser_is_guarded_too() -> None:
    """Without libyaml, nothing else stops the recursion."""
    with pytest.raises(SourceError, match=f"nested more than {MAX_DEPTH}"):
        _PurePythonLoader("a: " + "[" * 5000 + "]" * 5000).get_single_node()


# ---------------------------------------------------------------------------
# File size, devices, FIFOs


def test_file_size_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as out:
        out.write(b"#" * (MAX_FILE_BYTES + 1))
    limit = f"cannot read: larger than {MAX_FILE_BYTES // 2**20} MB, the limit for this file"
    assert check_file(big, check_env=False) == [f"{big}:1: {limit}"]
    if os.path.exists("/dev/zero"):
        assert check_file("/dev/zero", check_env=False) == [f"/dev/zero:1: {limit}"]
    with big.open("r+b") as out:
        out.truncate(MAX_FILE_BYTES)  # at the limit: read (a comment only)
    assert check_file(big, check_env=False) == [f"{big}:1: the file is empty; expected a mapping with at least "
                                                "accounts:"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_nobody_writes_to_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "accounts.yaml"
    os.mkfifo(fifo)
    result: list[list[str]] = []
    reader = threading.Thread(target=lambda: result.append(check_file(fifo, check_env=False)), daemon=True)
    reader.start()
    reader.join(60)
    assert result == [[f"{fifo}:1: the file is empty; expected a mapping with at least accounts:"]]


# ---------------------------------------------------------------------------
# Numbers: located errors, never a traceback or a crash later

SMTP = "smtp:\n  host: smtp.example.gov.cn\n  sender: wxmon@example.gov.cn\n"
NUMBER_CASES = [
    ("int-5000-digits", doc(top=SMTP + f"  port: {'9' * 5000}  {MARK}\n"), "smtp.port",
     "a number of more than 100 characters (quote it if it is text)"),
    ("int-5000-digits-as-name", doc(accounts=acct(name=f"{'1' * 5000}  {MARK}")), "accounts[0].name",
     "a number of more than 100 characters"),
    ("hex-5000-digits", doc(top=SMTP + f"  port: 0x{'f' * 5000}  {MARK}\n"), "smtp.port", "more than 100"),
    ("sexagesimal", doc(top=SMTP + f"  port: 1{':59' * 3000}  {MARK}\n"), "smtp.port", "more than 100"),
    ("int-99-digits", doc(top=SMTP + f"  port: {'9' * 99}  {MARK}\n"), "smtp.port",
     "less than or equal to 65535"),
    ("float-huge", doc(top=SMTP + f"  timeout_s: 1.0e+999  {MARK}\n"), "smtp.timeout_s", "finite number"),
    ("float-inf", doc(top=SMTP + f"  timeout_s: .inf  {MARK}\n"), "smtp.timeout_s", "finite number"),
    ("float-nan", doc(top=SMTP + f"  timeout_s: .nan  {MARK}\n"), "smtp.timeout_s", "finite number"),
    ("float-inf-checks", doc(top=f"checks:\n  timeout_s: .inf  {MARK}\n"), "checks.timeout_s", "finite number"),
    ("float-nan-checks", doc(top=f"checks:\n  per_host_rate: .nan  {MARK}\n"), "checks.per_host_rate", "finite"),
    ("float-for-int", doc(top=SMTP + f"  port: 1.0e+300  {MARK}\n"), "smtp.port", "port"),
    ("day-far-future", doc(top=f"calendar:\n  extra_holidays: [9999-12-31]  {MARK}\n"),
     "calendar.extra_holidays[0]", "between 2000-01-01 and 2100-12-31"),
    ("policy-count", doc(top="policies:\n  strict:\n    base: demo-default\n    rules:\n"
                             f"      - {{id: broken_columns, max_broken: {10 ** 50}}}  {MARK}\n"),
     "policies.strict.rules[0].max_broken", "less than or equal to 1000000"),
    ("policy-points-nan", doc(top=f"policies:\n  strict:\n    base: points-local\n    pass_score: .nan  {MARK}\n"),
     "policies.strict.pass_score", "must be"),
    ("bad-int-tag", doc(top=SMTP + f"  port: !!int x  {MARK}\n"), "smtp.port", "cannot be read as int"),
    ("bad-bool-tag", doc(accounts=acct(api=f"!!bool maybe  {MARK}")), "accounts[0].api", "cannot be read as bool"),
    ("set-tag-on-a-key", f"!!set accounts: x  {MARK}\n", "accounts", "cannot be read as set"),
    ("map-tag-on-a-value", doc(top=SMTP + f"  port: !!map x  {MARK}\n"), "smtp.port", "cannot be read as map"),
    ("bad-timestamp-tag", doc(top=f"calendar:\n  extra_holidays: [!!timestamp x]  {MARK}\n"),
     "calendar.extra_holidays[0]", "cannot be read as timestamp"),
]


@pytest.mark.parametrize("text,field,fragment", [c[1:] for c in NUMBER_CASES], ids=[c[0] for c in NUMBER_CASES])
def test_absurd_numbers_are_located(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    path = write(tmp_path, text)
    problems = check_file(path, check_env=False)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{marked_line(text)}: {field}: "), problems
    assert fragment in problems[0], problems
    with pytest.raises(BadInput):
        load_config(path)


# ---------------------------------------------------------------------------
# Text that ends up in mail headers, CSV cells, file names and logs

HOSTILE_CHARS = ["\\r\\nBcc: x@example.com", "\\n", "\\0", "\\e", "\\x7f", "\\x9b", "\\N", "\\L", "\\P", "\\t"]
ONE_LINE = "must be one line without control characters"


def text_cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for i, bad in enumerate(HOSTILE_CHARS):
        value = f'"张三{bad}"'
        cases += [
            (f"supervisor-name-{i}", doc(top=f"supervisors:\n  - {{name: {value}, email: z@example.gov.cn}}  {MARK}\n"),
             "supervisors[0].name", ONE_LINE),
            (f"account-name-{i}", doc(accounts=acct(name=f"{value}  {MARK}")), "accounts[0].name", ONE_LINE),
        ]
    return cases + [
        ("account-unit", doc(accounts=acct(unit=f'"新华\\r\\n街道"  {MARK}')), "accounts[0].unit", ONE_LINE),
        ("contact-name", doc(accounts=acct(contacts=f'[{{name: "李\\0四"}}]  {MARK}')),
         "accounts[0].contacts[0].name", ONE_LINE),
        ("contact-role", doc(accounts=acct(contacts=f'[{{name: 李四, role: "a\\nb"}}]  {MARK}')),
         "accounts[0].contacts[0].role", ONE_LINE),
        ("tester", doc(accounts=acct(inquiry=f'{{channel: manual, tester: "t\\x1b[2J", questions: [你好]}}  {MARK}')),
         "accounts[0].inquiry.tester", ONE_LINE),
        ("question", doc(accounts=acct(inquiry=f'{{channel: manual, questions: ["你好\\0"]}}  {MARK}')),
         "accounts[0].inquiry.questions[0]", "must not contain control characters"),
        ("column-path", doc(accounts=acct(columns=f'[{{path: "办事\\t服务", type: click}}]  {MARK}')),
         "accounts[0].columns[0].path", ONE_LINE),
        ("sender-nul", doc(top=f'smtp:\n  host: smtp.example.gov.cn\n  sender: "wx\\0mon@example.gov.cn"  {MARK}\n'),
         "smtp.sender", "e-mail address"),
        ("sender-comma", doc(top=f"smtp:\n  host: smtp.example.gov.cn\n  sender: 'a,b@example.gov.cn'  {MARK}\n"),
         "smtp.sender", "e-mail address"),
        ("sender-non-ascii", doc(top=f"smtp:\n  host: smtp.example.gov.cn\n  sender: 张三@example.gov.cn  {MARK}\n"),
         "smtp.sender", "e-mail address in ASCII"),
        ("supervisor-email-idn", doc(top=f"supervisors:\n  - {{name: 张三, email: zhangsan@中国.cn}}  {MARK}\n"),
         "supervisors[0].email", "xn-- form"),
        ("supervisor-email-angle", doc(top=f"supervisors:\n  - {{name: 张三, email: 'a<b>@x.cn'}}  {MARK}\n"),
         "supervisors[0].email", "e-mail address"),
        ("smtp-host", doc(top=f'smtp:\n  host: "smtp.example.gov.cn\\r\\nRSET"  {MARK}\n'
                              "  sender: wxmon@example.gov.cn\n"), "smtp.host", "host name"),
        ("store-nul", doc(top=f'store: "sqlite:///wx\\0mon.db"  {MARK}\n'), "store", "one line"),
        ("canary-nul", doc(top=f'checks:\n  canary_urls: ["https://x.example/\\0"]  {MARK}\n'),
         "checks.canary_urls[0]", "URL with a host"),
        ("name-too-long", doc(accounts=acct(name=f"{'名' * 201}  {MARK}")), "accounts[0].name",
         "must be at most 200 characters"),
    ]


@pytest.mark.parametrize("text,field,fragment", [c[1:] for c in text_cases()], ids=[c[0] for c in text_cases()])
def test_text_fields_are_checked_for_what_they_end_up_in(tmp_path: Path, text: str, field: str,
                                                          fragment: str) -> None:
    path = write(tmp_path, text)
    problems = check_file(path, check_env=False)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{marked_line(text)}: {field}: "), problems
    assert fragment in problems[0], problems


def test_problem_lines_quote_values_without_breaking_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'timezone: Asia/Shanghai\npolicy: "no\\r\\nsuch\\0policy\\L"\naccounts:\n' + acct())
    problems = check_file(path, check_env=False)
    assert problems == [f"{path}:2: policy: unknown policy 'no\\r\\nsuch\\x00policy\\u2028' (known: national-2019, "
                        "demo-default, points-local)"]
    path = write(tmp_path, f"timezone: Asia/Shanghai\npolicy: {'x' * 5000}\naccounts:\n" + acct())
    problems = check_file(path, check_env=False)
    assert problems and all(p.startswith(f"{path}:2: policy: ") and len(p) <= 1000 for p in problems), problems


def test_a_flood_of_problems_is_listed_in_part(tmp_path: Path) -> None:
    from monitor.config.loader import MAX_PROBLEMS

    path = write(tmp_path, HEAD + "accounts: [" + "{}, " * (MAX_PROBLEMS // 2) + "{}]\n")
    problems = check_file(path, check_env=False)
    assert problems[0] == f"{path}:3: accounts[0].id: required key missing"
    assert len(problems) == 4 * 100 + 1 and "accounts[99].category" in problems[-2]
    assert problems[-1] == f"{path}:1: more problems than listed: only those in the first 100 items of each list " \
                           "or mapping are; fix them and check again"
    path = write(tmp_path, bench_style(100) + "  - {}\n" * (MAX_PROBLEMS // 2))  # good first items
    assert check_file(path, check_env=False) == [f"{path}:3: x-defaults: unknown key", problems[-1]]
    path = write(tmp_path, HEAD + "x: {" + "a: 1, " * (MAX_PROBLEMS + 5) + "a: 1}\naccounts:\n" + acct())
    problems = check_file(path, check_env=False)
    assert len(problems) == 3 and problems[-1] == f"{path}:1: more problems than the {MAX_PROBLEMS:,} listed; fix " \
                                                  "them and check again"


NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
ADDRESSES = st.one_of(st.sampled_from(["zhangsan@example.gov.cn", "a.b+c@x.cn", "a(b)@x.cn", "a@中国.cn"]),
                      st.from_regex(r"[^@\s]{1,12}@[^@\s]{1,12}\.[a-z]{2,3}", fullmatch=True))


@settings(max_examples=200, deadline=None)
@given(name=NAMES, email=ADDRESSES)
def test_whatever_config_check_accepts_makes_a_mail_that_can_be_sent(name: str, email: str) -> None:
    from pydantic import ValidationError

    from dashboards.mail import build_message, recipient

    try:
        supervisor = Supervisor(name=name, email=email)
        smtp = Smtp(host="smtp.example.gov.cn", sender=email)
    except ValidationError:
        return
    message = build_message("【wxmon】周报", smtp.sender, recipient(supervisor.name, supervisor.email), "<p>x</p>", "x")
    data = message.as_bytes()
    headers = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert sum(line.startswith(("To:", "From:")) for line in headers.split("\r\n")) == 2


# ---------------------------------------------------------------------------
# Unacceptable characters: the exact line, whatever the encoding around them

LINES = ["timezone: Asia/Shanghai", "# 中文注释：新华街道办事处发布的公众号", "policy: demo-default",
         'store: "sqlite:///中文目录/wxmon.db"', "accounts:", "  - id: jd-xinhua", "    name: 新华街道发布"]


def with_char(char: str, line: int, where: str) -> list[str]:
    lines = list(LINES)
    text = lines[line - 1]
    at = {"start": 0, "middle": len(text) // 2 + 1, "end": len(text)}[where]
    lines[line - 1] = text[:at] + char + text[at:]
    return lines


@pytest.mark.parametrize("newline,bom", [("\n", False), ("\r\n", False), ("\r\n", True), ("\n", True)],
                         ids=["lf", "crlf", "bom-crlf", "bom-lf"])
@pytest.mark.parametrize("line,where", [(1, "start"), (2, "end"), (4, "middle"), (5, "end"), (7, "end")])
@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x80", "\x9f", "\ufffe",
                                  "\uffff"])
def test_an_unacceptable_character_is_reported_on_its_line(tmp_path: Path, char: str, line: int, where: str,
                                                           newline: str, bom: bool) -> None:
    text = newline.join(with_char(char, line, where)) + ("" if line == len(LINES) else newline)
    path = tmp_path / "accounts.yaml"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    assert check_file(path, check_env=False) == [
        f"{path}:{line}: YAML syntax error: unacceptable character #x{ord(char):04x}"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("line,where", [(1, "start"), (2, "middle"), (4, "middle"), (7, "end")])
@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\r"])
def test_line_breaks_editors_do_not_see_are_refused_on_their_line(tmp_path: Path, char: str, line: int,
                                                                  where: str, newline: str) -> None:
    """YAML 1.1 ends a line there (the rest of a 'comment' would be read as settings); editors do not."""
    path = tmp_path / "accounts.yaml"
    path.write_bytes(newline.join(with_char(char, line, where)).encode("utf-8"))
    assert check_file(path, check_env=False) == [
        f"{path}:{line}: YAML syntax error: unacceptable line break #x{ord(char):04x} "
        "(lines must end with LF or CRLF)"]


@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_syntax_errors_and_fields_keep_their_lines_with_crlf_and_a_bom(tmp_path: Path, newline: str,
                                                                       bom: bool) -> None:
    path = tmp_path / "accounts.yaml"
    prefix = b"\xef\xbb\xbf" if bom else b""
    text = doc(accounts=acct(category=f"街道  {MARK}"))
    path.write_bytes(prefix + text.replace("\n", newline).encode("utf-8"))
    [problem] = check_file(path, check_env=False)
    assert problem.startswith(f"{path}:{marked_line(text)}: accounts[0].category: ")
    text = "# 注释\naccounts:\n  - id: x\n  name: y  #<\n"
    path.write_bytes(prefix + text.replace("\n", newline).encode("utf-8"))
    [problem] = check_file(path, check_env=False)
    assert problem.startswith(f"{path}:4: YAML syntax error: ")
    path.write_bytes(prefix + "# 注释\naccounts: [a, b\n".replace("\n", newline).encode("utf-8"))
    [problem] = check_file(path, check_env=False)
    assert problem.startswith(f"{path}:2: YAML syntax error: ")  # the end of the file is on its last line
    path.write_bytes(prefix + "# 注释\r\naccounts:\r\n".encode() + b"  - name: caf\xe9\r\n")
    assert check_file(path, check_env=False) == [f"{path}:3: not UTF-8 text (byte 0xe9)"]


# ---------------------------------------------------------------------------
# Properties: whatever the file, one clean line per problem on a line of the file

LINE_RE = re.compile(r"(.*?):(\d+): (.+)")


def file_lines(path: Path) -> int:
    raw = path.read_bytes()
    return max(1, raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1))


def assert_clean(path: Path) -> list[str]:
    problems = check_file(path, check_env=False)
    assert isinstance(problems, list)
    last = file_lines(path)
    for problem in problems:
        match = LINE_RE.fullmatch(problem)
        assert match and match.group(1) == str(path), problem
        assert 1 <= int(match.group(2)) <= last, (problem, last)
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", problem), problem
    try:
        load_config(path)
    except BadInput as exc:
        assert exc.problems == problems
    else:
        assert problems == []
    return problems


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile") / "accounts.yaml"


TOKENS = ["accounts:", "  - ", "id: a", "name: 名", "[", "]", "{", "}", ": ", ", ", "- ", "&a ", "*a", "*b", "&b ",
          "<<: ", "!!int ", "!!float ", "!!binary ", "!!set ", "!!omap ", "!!pairs ", "!!map ", "!!seq ",
          "!!str ", "!!bool ", "!!null ", "!!timestamp ", "!x ", "!!python/name:os.system ", "? ", "'", '"', "#",
          "|", ">", "---", "...", "%YAML 1.1", "\n", "\r\n", "  ", "\t", "1", "9" * 200, ".inf", ".nan", "0x1f",
          "1:30", "null", "yes", "~", "\x00", "\x85", "\u2028", "\ufeff", "中文", "\\", "%", "@", "`"]
HOSTILE_TEXT = st.one_of(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
                         st.text(max_size=200))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=HOSTILE_TEXT, bom=st.booleans())
def test_any_text_gives_clean_located_problems(scratch: Path, text: str, bom: bool) -> None:
    scratch.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
    assert_clean(scratch)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10 ** 60),
                    st.floats(), st.text(max_size=30), st.sampled_from(["", "乡镇街道", "wx0123456789abcdef", "view"]))
KEYS = st.one_of(st.sampled_from(["accounts", "id", "name", "unit", "category", "smtp", "port", "sender",
                                  "supervisors", "email", "policies", "rules", "checks", "timeout_s", "store",
                                  "calendar", "extra_holidays", "inquiry", "questions", "columns", "path"]),
                 st.text(max_size=10), st.integers())
STRUCTURES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                           st.dictionaries(KEYS, inner, max_size=5)), max_leaves=30)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=STRUCTURES, flow=st.sampled_from([None, True, False]))
def test_any_structure_gives_clean_located_problems(scratch: Path, data: Any, flow: bool | None) -> None:
    scratch.write_text(yaml.safe_dump(data, allow_unicode=True, default_flow_style=flow), encoding="utf-8")
    assert_clean(scratch)


GOOD = {"timezone": "Asia/Shanghai", "policy": "demo-default",
        "smtp": {"host": "smtp.example.gov.cn", "port": 465, "sender": "wxmon@example.gov.cn", "timeout_s": 30},
        "supervisors": [{"name": "张三", "email": "zhangsan@example.gov.cn"}],
        "calendar": {"extra_holidays": ["2027-01-01"]},
        "accounts": [{"id": "jd-xinhua", "name": "新华街道发布", "unit": "新华街道办事处", "category": "乡镇街道",
                      "appid": "wx0123456789abcdef", "secret_env": "WXMON_SECRET_JD_XINHUA",
                      "inquiry": {"channel": "manual", "tester": "t1", "questions": ["你好"]},
                      "columns": [{"path": "办事/社保", "url": "https://example.gov.cn/sb"}],
                      "contacts": [{"name": "李四", "role": "运维", "email": "lisi@example.gov.cn",
                                    "phone": "010-12345678"}]}]}


def leaf_paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in leaf_paths(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in leaf_paths(v, (*path, i))]
    return [path]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(leaf_paths(GOOD)), value=STRUCTURES)
def test_a_good_file_with_any_value_anywhere_gives_clean_located_problems(scratch: Path, where: tuple[Any, ...],
                                                                          value: Any) -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    scratch.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert_clean(scratch)
