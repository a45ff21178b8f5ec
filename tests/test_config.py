"""accounts.yaml: every kind of mistake gives exit 2 and one located line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from monitor.config import Config, check_file, cron_trigger, load_config
from monitor.config.cron import CronError
from monitor.errors import BadInput
from monitor.policy import Policy
from wxmon.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "config"
MARK = "#<"  # a YAML comment marking the line an error must point at

ACCOUNT_FIELDS = {
    "id": "jd-xinhua",
    "name": "新华街道发布",
    "unit": "新华街道办事处",
    "category": "乡镇街道",
    "appid": "wx0123456789abcdef",
    "secret_env": "WXMON_SECRET_JD_XINHUA",
    "inquiry": "{channel: emulator, questions: [请问社保卡补办需要带什么材料？]}",
}


def acct(first: str = "", **fields: str | None) -> str:
    """An account block; a field set to None is left out; ``first`` goes after '- id'."""
    values = {**ACCOUNT_FIELDS, **fields}
    lines = []
    for key, value in values.items():
        if value is None:
            continue
        prefix = "  - " if not lines else "    "
        lines.append(f"{prefix}{key}: {value}" + (f"  {first}" if not lines and first else ""))
    return "\n".join(lines) + "\n"


HEAD = "timezone: Asia/Shanghai\npolicy: demo-default\n"


def doc(top: str = "", accounts: str | None = None) -> str:
    return HEAD + top + "accounts:\n" + (acct() if accounts is None else accounts)


def marked_line(text: str) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(lines) == 1, "exactly one marked line per case"
    return lines[0]


def line_with(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def write(tmp_path: Path, text: str, name: str = "accounts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# (case id, file text with the marked line, field path, fragment of the message)
CASES: list[tuple[str, str, str, str]] = [
    ("unknown-key-account", doc(accounts=acct(schedule=f"hourly  {MARK}")),
     "accounts[0].schedule", "unknown key"),
    ("unknown-key-top", doc(top=f"schedule: {{}}  {MARK}\n"), "schedule", "unknown key (did you mean 'schedules'?)"),
    ("unknown-key-nested", doc(top=f"wechat:\n  api_bse: https://x.example  {MARK}\n"),
     "wechat.api_bse", "did you mean 'api_base'?"),
    ("secret-in-file", doc(accounts=acct(secret=f"0123456789abcdef0123456789abcdef  {MARK}")),
     "accounts[0].secret", "secrets are never in this file"),
    ("timezone", f"timezone: Asia/Tokyo  {MARK}\naccounts:\n" + acct(), "timezone", "Asia/Shanghai"),
    ("store-not-url", doc(top=f"store: wxmon.db  {MARK}\n"), "store", "not a SQLAlchemy URL"),
    ("store-backend", doc(top=f"store: mysql://wxmon@db/wxmon  {MARK}\n"), "store", "only sqlite and postgresql"),
    ("store-password", doc(top=f"store: postgresql+psycopg://wxmon:pw@127.0.0.1/wxmon  {MARK}\n"),
     "store", "contains a password"),
    ("api-base-scheme", doc(top=f"wechat:\n  api_base: ftp://api.example  {MARK}\n"),
     "wechat.api_base", "http:// or https:// URL with a host"),
    ("api-base-no-host", doc(top=f"wechat:\n  api_base: https://  {MARK}\n"),
     "wechat.api_base", "URL with a host"),
    ("timeout", doc(top=f"wechat:\n  timeout_s: 0  {MARK}\n"), "wechat.timeout_s", "greater than 0"),
    ("calendar-date", doc(top=f"calendar:\n  extra_holidays: [2027-02-30]  {MARK}\n"),
     "calendar.extra_holidays[0]", "date"),
    ("calendar-both", doc(top=f"calendar:\n  extra_holidays: [2027-02-01]\n  extra_workdays: [2027-02-01]  {MARK}\n"),
     "calendar.extra_workdays[0]", "also in extra_holidays"),
    ("policy-unknown", f"policy: strictest  {MARK}\naccounts:\n" + acct(), "policy", "unknown policy 'strictest'"),
    ("policy-custom-param", doc(top="policies:\n  strict:\n    base: demo-default\n    rules:\n"
                                    f"      - {{id: stale, days: 0}}  {MARK}\n"),
     "policies.strict.rules[0].days", "greater than or equal to 1"),
    ("policy-custom-new-rule", doc(top="policies:\n  strict:\n    base: demo-default\n    rules:\n"
                                        f"      - {{id: extra, kind: no_update}}  {MARK}\n"),
     "policies.strict.rules[0].label", "required for a new rule"),
    ("policy-custom-base", doc(top=f"policies:\n  strict:\n    base: national-2020  {MARK}\n"),
     "policies.strict.base", "unknown policy 'national-2020'"),
    ("policy-custom-name", doc(top=f"policies:\n  national-2019:  {MARK}\n    mode: veto\n"),
     "policies.national-2019", "cannot reuse a built-in name"),
    ("cron-value", doc(top=f"schedules:\n  columns: \"61 * * * *\"  {MARK}\n"),
     "schedules.columns", "bad cron expression '61 * * * *': "),
    ("cron-fields", doc(top=f"schedules:\n  inquiry: \"0 9 * *\"  {MARK}\n"),
     "schedules.inquiry", "wrong number of fields"),
    ("cron-weekday", doc(top=f"schedules:\n  weekly_report: \"0 9 * * 8\"  {MARK}\n"),
     "schedules.weekly_report", "bad cron expression"),
    ("checks-concurrency", doc(top=f"checks:\n  concurrency: 0  {MARK}\n"),
     "checks.concurrency", "greater than or equal to 1"),
    ("checks-canary", doc(top=f"checks:\n  canary_urls: [example.gov.cn]  {MARK}\n"),
     "checks.canary_urls[0]", "URL with a host"),
    ("bridge-url", doc(top=f"channels:\n  bridge: {{url: 'http:///x'}}  {MARK}\n"),
     "channels.bridge.url", "URL with a host"),
    ("smtp-security", doc(top=f"smtp:\n  host: smtp.example.gov.cn\n  security: tls  {MARK}\n"
                              "  sender: wxmon@example.gov.cn\n"),
     "smtp.security", "'ssl', 'starttls' or 'none'"),
    ("smtp-pair", doc(top=f"smtp:  {MARK}\n  host: smtp.example.gov.cn\n  username_env: WXMON_SMTP_USER\n"
                          "  sender: wxmon@example.gov.cn\n"),
     "smtp.password_env", "set both or neither"),
    ("smtp-sender", doc(top=f"smtp:\n  host: smtp.example.gov.cn\n  sender: wxmon  {MARK}\n"),
     "smtp.sender", "e-mail address"),
    ("supervisor-email", doc(top=f"supervisors:\n  - {{name: 张三, email: zhangsan@}}  {MARK}\n"),
     "supervisors[0].email", "e-mail address"),
    ("account-id", doc(accounts=acct(id=f"JD Xinhua  {MARK}")), "accounts[0].id", "lowercase letters"),
    ("account-category", doc(accounts=acct(category=f"街道  {MARK}")), "accounts[0].category", "乡镇街道"),
    ("account-platform", doc(accounts=acct(platform=f"weibo  {MARK}")), "accounts[0].platform", "'wechat'"),
    ("account-appid", doc(accounts=acct(appid=f"wx0123  {MARK}")), "accounts[0].appid", "16 lowercase hex"),
    ("account-secret-env", doc(accounts=acct(secret_env=f"0123456789abcdef0123456789abcdef  {MARK}")),
     "accounts[0].secret_env", "NAME of an environment variable"),
    ("account-api-needs-secret-env", doc(accounts=acct(MARK, secret_env=None)),
     "accounts[0].secret_env", "required when api is true"),
    ("account-api-needs-appid", doc(accounts=acct(MARK, appid=None)), "accounts[0].appid", "required when api"),
    ("account-missing-name", doc(accounts=acct(MARK, name=None)), "accounts[0].name", "required key missing"),
    ("account-api-bool", doc(accounts=acct(api=f"sometimes  {MARK}")), "accounts[0].api", "boolean"),
    ("inquiry-channel", doc(accounts=acct(inquiry=f"{{channel: sms, questions: [你好]}}  {MARK}")),
     "accounts[0].inquiry.channel", "'emulator', 'manual', 'bridge' or 'none'"),
    ("inquiry-questions", doc(accounts=acct(inquiry=f"{{channel: manual}}  {MARK}")),
     "accounts[0].inquiry.questions", "needs at least one question"),
    ("column-path", doc(accounts=acct(columns=f"[{{path: a/b/c, url: 'https://x.example'}}]  {MARK}")),
     "accounts[0].columns[0].path", "'一级/二级'"),
    ("column-url-missing", doc(accounts=acct(columns=f"[{{path: 办事, type: view}}]  {MARK}")),
     "accounts[0].columns[0].url", "required for a view column"),
    ("column-url-bad", doc(accounts=acct(columns=f"[{{path: 办事, url: 'www.example.gov.cn'}}]  {MARK}")),
     "accounts[0].columns[0].url", "URL with a host"),
    ("contact-email", doc(accounts=acct(contacts=f"[{{name: 李四, email: lisi}}]  {MARK}")),
     "accounts[0].contacts[0].email", "e-mail address"),
    ("contact-phone-number", doc(accounts=acct(contacts=f"[{{name: 李四, phone: 13800138000}}]  {MARK}")),
     "accounts[0].contacts[0].phone", "string"),
    ("duplicate-id", doc(accounts=acct() + acct(id=f"jd-xinhua  {MARK}", appid="wx00000000000000b2")),
     "accounts[1].id", "duplicate id 'jd-xinhua' (also accounts[0])"),
    ("duplicate-appid", doc(accounts=acct() + acct(id="bm-jiaoyu", appid=f"wx0123456789abcdef  {MARK}")),
     "accounts[1].appid", "duplicate appid 'wx0123456789abcdef'"),
    ("unprobeable", doc(accounts=acct(MARK, api="false", appid=None, secret_env=None, inquiry=None)),
     "accounts[0]", "cannot be probed at all"),
    ("bridge-needs-url", doc(accounts=acct(inquiry=f"{{channel: bridge, questions: [你好]}}  {MARK}")),
     "accounts[0].inquiry.channel", "needs channels.bridge.url"),
    ("accounts-empty", HEAD + f"accounts: []  {MARK}\n", "accounts", "at least one account"),
    ("accounts-missing", f"timezone: Asia/Shanghai  {MARK}\npolicy: demo-default\n",
     "accounts", "required key missing"),
    ("accounts-not-list", HEAD + f"accounts: jd-xinhua  {MARK}\n", "accounts", "must be a list"),
    ("duplicate-yaml-key", doc(top=f"policy: national-2019  {MARK}\n"), "policy", "duplicate key (first at line 2)"),
    ("duplicate-yaml-key-account", doc(accounts=acct(api="true") + f"    api: false  {MARK}\n"),
     "accounts[0].api", "duplicate key"),
]


@pytest.mark.parametrize("text,field,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str,
                                 fragment: str) -> None:
    path = write(tmp_path, text)
    code = main(["config", "check", "--no-env", str(path)])
    err = capsys.readouterr().err.splitlines()
    prefix = f"{path}:{marked_line(text)}: {field}: "
    assert code == 2
    assert len(err) == 1, err  # the mistake, and only it
    assert err[0].startswith(prefix), (err, prefix)
    assert fragment in err[0][len(prefix):], err


@pytest.mark.parametrize("text,fragment", [
    ("schedules:\n  columns: a: b  #<\naccounts: []\n", "YAML syntax error: mapping values are not allowed"),
    ("accounts:\n  - id: x\n  name: y  #<\n", "YAML syntax error: while parsing a block collection (from line 2)"),
    ("accounts: [a, b\nstore: x  #<", "while parsing a flow sequence (from line 1)"),
    ("accounts: !!python/object:os.system x  #<\n", "YAML error"),
], ids=["mapping-values", "bad-indent", "unclosed-flow", "unsafe-tag"])
def test_yaml_syntax_error_is_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                               fragment: str) -> None:
    path = write(tmp_path, text)
    assert main(["config", "check", "--no-env", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"{path}:{marked_line(text)}: "), err
    assert fragment in err[0]


@pytest.mark.parametrize("text,line,fragment", [
    ("", 1, "the file is empty"),
    ("# only a comment\n", 1, "the file is empty"),
    ("- a\n- b\n", 1, "must be a mapping"),
    ("a: 1\n---\nb: 2\n", 2, "YAML syntax error"),
], ids=["empty", "comment-only", "list", "two-documents"])
def test_file_shape_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int,
                           fragment: str) -> None:
    path = write(tmp_path, text)
    assert main(["config", "check", "--no-env", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{path}:{line}: ") and fragment in err[0], err


def test_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["config", "check", str(missing)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"{missing}:1: cannot read: No such file or directory"]

    assert main(["config", "check", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"{tmp_path}:1: cannot read: is a directory"]

    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("timezone: Asia/Shanghai\naccounts:\n  - name: caf\xe9\n".encode("latin-1"))
    assert main(["config", "check", str(latin)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"{latin}:3: not UTF-8 text (byte 0xe9)"]


def test_default_path_is_accounts_yaml_in_cwd(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = doc(accounts=acct(category=f"街道  {MARK}"))
    write(tmp_path, text)
    assert main(["config", "check", "--no-env"]) == 2
    assert capsys.readouterr().err.startswith(f"accounts.yaml:{marked_line(text)}: accounts[0].category: ")


def test_several_mistakes_are_all_listed_in_line_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "timezone: Asia/Shanghai\n"
        "store: postgresql://wxmon:hunter2@db/wxmon\n"          # 2
        "policy: strictest\n"                                   # 3
        "schedules:\n"
        "  columns: \"61 * * * *\"\n"                           # 5
        "  freshness: \"30 6 * * *\"\n"
        "  freshness: \"0 6 * * *\"\n"                          # 7
        "smtp:\n"
        "  host: smtp.example.gov.cn\n"
        "  sender: nobody\n"                                    # 10
        "accounts:\n"
        + acct()                                                # 12..18
        + acct(id="jd-xinhua", appid="wx00000000000000b2", schedule="hourly")  # 19..26: id 19, schedule 26
        + acct(id="bm-x", category="县", appid="wx00000000000000b3",            # 27..33: category 30
               secret_env=None)                                                 # secret_env missing: 27
    )
    path = write(tmp_path, text)
    code = main(["config", "check", "--no-env", str(path)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    expected = [
        (2, "store"), (3, "policy"), (5, "schedules.columns"), (7, "schedules.freshness"), (10, "smtp.sender"),
        (19, "accounts[1].id"), (26, "accounts[1].schedule"), (30, "accounts[2].category"),
    ]
    for line, field in expected:
        assert any(e.startswith(f"{path}:{line}: {field}: ") for e in err), (line, field, err)
    assert len(err) == len(expected), err
    assert [int(e.split(":")[1]) for e in err] == sorted(int(e.split(":")[1]) for e in err)
    assert "hunter2" not in "\n".join(err)


def test_account_level_checks_run_even_when_another_account_is_broken(tmp_path: Path) -> None:
    text = doc(accounts=acct(category="县") + acct(id="bm-x", appid="wx00000000000000b2", secret_env=None))
    problems = check_file(write(tmp_path, text), check_env=False)
    assert any("accounts[0].category" in p for p in problems)
    assert any("accounts[1].secret_env: required when api is true" in p for p in problems)


def test_valid_files_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, doc())
    monkeypatch.setenv("WXMON_SECRET_JD_XINHUA", "x" * 32)
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == f"{path}: OK\n" and out.err == ""

    full = DATA / "full.yaml"
    assert main(["config", "check", "--no-env", str(full)]) == 0
    assert check_file(full, check_env=False) == []


def test_missing_environment_variables_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WXMON_SECRET_JD_XINHUA", "WXMON_SECRET_BM_JIAOYU", "WXMON_BRIDGE_TOKEN", "WXMON_SMTP_USER",
                 "WXMON_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    full = DATA / "full.yaml"
    text = full.read_text(encoding="utf-8")
    assert main(["config", "check", str(full)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{full}:{line_with(text, 'token_env:')}: channels.bridge.token_env: "
        "environment variable WXMON_BRIDGE_TOKEN is not set",
        f"{full}:{line_with(text, 'username_env:')}: smtp.username_env: "
        "environment variable WXMON_SMTP_USER is not set",
        f"{full}:{line_with(text, 'password_env:')}: smtp.password_env: "
        "environment variable WXMON_SMTP_PASSWORD is not set",
        f"{full}:{line_with(text, 'WXMON_SECRET_JD_XINHUA')}: accounts[0].secret_env: "
        "environment variable WXMON_SECRET_JD_XINHUA is not set",
        f"{full}:{line_with(text, 'WXMON_SECRET_BM_JIAOYU')}: accounts[1].secret_env: "
        "environment variable WXMON_SECRET_BM_JIAOYU is not set",
    ]
    monkeypatch.setenv("WXMON_SECRET_JD_XINHUA", "")  # set but empty is not a secret
    assert any("WXMON_SECRET_JD_XINHUA" in p for p in check_file(full))
    for name in ("WXMON_SECRET_JD_XINHUA", "WXMON_SECRET_BM_JIAOYU", "WXMON_BRIDGE_TOKEN", "WXMON_SMTP_USER",
                 "WXMON_SMTP_PASSWORD"):
        monkeypatch.setenv(name, "v")
    assert check_file(full) == []


SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_secrets_are_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXMON_SECRET_JD_XINHUA", SECRET)
    good = write(tmp_path, doc(), "good.yaml")
    assert main(["config", "check", str(good)]) == 0
    # a secret pasted where a name belongs, or under a made-up key: reported, never echoed
    bad = write(tmp_path, doc(accounts=acct(secret_env=SECRET) + acct(
        id="bm-x", appid="wx00000000000000b2", secret_env="WXMON_SECRET_BM_X", secret=SECRET,
        inquiry=f"{{channel: manual, tester: {SECRET}}}")), "bad.yaml")
    assert main(["config", "check", str(bad)]) == 2
    assert main(["config", "schema"]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out and SECRET not in out.err
    assert "accounts[0].secret_env" in out.err and "accounts[1].secret" in out.err
    proc = subprocess.run([sys.executable, "-m", "wxmon.cli", "config", "check", str(bad)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "WXMON_SECRET_JD_XINHUA": SECRET})
    assert proc.returncode == 2
    assert SECRET not in proc.stdout + proc.stderr


def test_cli_subprocess(tmp_path: Path) -> None:
    bad = write(tmp_path, doc(accounts=acct(appid=f"wx0123  {MARK}")))
    proc = subprocess.run([sys.executable, "-m", "wxmon.cli", "config", "check", "--no-env", str(bad)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{bad}:{marked_line(bad.read_text())}: accounts[0].appid: ")
    env = {**os.environ, "WXMON_SECRET_JD_XINHUA": "s"}
    good = write(tmp_path, doc(), "good.yaml")
    proc = subprocess.run([sys.executable, "-m", "wxmon.cli", "config", "check", str(good)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{good}: OK\n", "")


# ---------------------------------------------------------------------------
# The Config object


def test_load_config_gives_the_config(tmp_path: Path) -> None:
    cfg = load_config(DATA / "full.yaml")
    assert isinstance(cfg, Config)
    assert cfg.config_dir == DATA.absolute()
    assert cfg.source == DATA / "full.yaml"
    assert cfg.store_url == f"sqlite:///{DATA.absolute() / 'wxmon.db'}"
    assert list(cfg.accounts_by_id) == ["jd-xinhua", "bm-jiaoyu", "sy-tushuguan"]
    assert cfg.account("bm-jiaoyu").inquiry.channel == "bridge"
    with pytest.raises(BadInput, match="unknown account 'nope'"):
        cfg.account("nope")
    assert isinstance(cfg.selected_policy, Policy)
    assert cfg.selected_policy.name == "strict" and cfg.selected_policy.base == "demo-default"
    assert cfg.selected_policy.rule("inquiry_deadline").working_days == 2
    assert cfg.emulator_base_url == "https://api.weixin.qq.com"
    assert cfg.smtp is not None and cfg.smtp.effective_port == 465
    assert cfg.line_of("accounts", 1, "appid") == line_with((DATA / "full.yaml").read_text(encoding="utf-8"),
                                                            "wx00000000000000b2")
    assert cfg.calendar.extra_holidays[0].isoformat() == "2027-01-01"
    assert not cfg.work_calendar().is_workday(cfg.calendar.extra_holidays[0])


def test_load_config_raises_bad_input_with_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, doc(top="policy: nope\n", accounts=acct(category="县")))
    with pytest.raises(BadInput) as exc:
        load_config(path)
    assert len(exc.value.problems) == 3  # duplicate policy key, unknown policy, category
    assert exc.value.exit_code == 2


def test_load_config_checks_env_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WXMON_SECRET_JD_XINHUA", raising=False)
    path = write(tmp_path, doc())
    load_config(path)
    with pytest.raises(BadInput, match="WXMON_SECRET_JD_XINHUA is not set"):
        load_config(path, check_env=True)
    cfg = load_config(path, check_env=True, environ={"WXMON_SECRET_JD_XINHUA": "s"})
    assert cfg.secret(cfg.accounts[0]) is None  # secret() reads the real environment


@pytest.mark.parametrize("store,expected", [
    (None, "sqlite:///{dir}/wxmon.db"),
    ("sqlite:///data/w.db", "sqlite:///{dir}/data/w.db"),
    ("sqlite:////var/lib/wxmon/w.db", "sqlite:////var/lib/wxmon/w.db"),
    ("sqlite://", "sqlite://"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql+psycopg://wxmon@127.0.0.1:5432/wxmon", "postgresql+psycopg://wxmon@127.0.0.1:5432/wxmon"),
])
def test_store_url_is_resolved_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                store: str | None, expected: str) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    path = write(sub, doc(top=f"store: '{store}'\n" if store else ""))
    monkeypatch.chdir(tmp_path)  # not the file's directory
    cfg = load_config(Path("conf") / "accounts.yaml")
    assert cfg.store_url == expected.format(dir=sub.absolute())
    assert path.exists()


def test_defaults() -> None:
    cfg = Config.model_validate({"accounts": [{
        "id": "a", "name": "n", "unit": "u", "category": "其他", "api": False,
        "columns": [{"path": "服务", "url": "https://x.example/"}]}]})
    assert cfg.timezone == "Asia/Shanghai"
    assert cfg.store == "sqlite:///wxmon.db"
    assert cfg.wechat.api_base == "https://api.weixin.qq.com"
    assert cfg.policy == "national-2019" and cfg.selected_policy.name == "national-2019"
    assert cfg.schedules.model_dump() == {"columns": "0 * * * *", "inquiry": "0 9 * * 1",
                                          "freshness": "30 6 * * *", "privacy": "0 7 * * *",
                                          "weekly_report": "0 9 * * 1", "inquiry_poll": "*/10 * * * *"}
    assert cfg.accounts[0].inquiry.channel == "none" and cfg.accounts[0].platform == "wechat"
    assert cfg.checks.soft404_markers == ["页面不存在", "404 Not Found"]


def test_config_built_in_code_is_checked_the_same_way() -> None:
    acct_data = {"id": "a", "name": "n", "unit": "u", "category": "其他", "appid": "wx0123456789abcdef",
                 "secret_env": "S"}
    with pytest.raises(ValueError, match="duplicate id 'a'"):
        Config.model_validate({"accounts": [acct_data, {**acct_data, "appid": "wx0123456789abcdee"}]})
    with pytest.raises(ValueError, match="unknown policy"):
        Config.model_validate({"policy": "x", "accounts": [acct_data]})


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = HEAD + (
        "accounts:\n"
        "  - &first\n"
        "    id: jd-a\n"
        "    name: A\n"
        "    unit: 街道办\n"
        "    category: 乡镇街道\n"
        "    appid: wx0000000000000001\n"
        "    secret_env: WXMON_SECRET_A\n"
        "  - <<: *first\n"
        "    id: jd-b\n"
        "    appid: wx0000000000000002\n"
        "    category: 县  #<\n"
    )
    path = write(tmp_path, text)
    assert check_file(path, check_env=False) == [
        f"{path}:{marked_line(text)}: accounts[1].category: must be one of '乡镇街道', '政府部门', '区政府', "
        "'事业单位' or '其他'"]


# ---------------------------------------------------------------------------
# Cron: the file means what a cron user reads


SAT = datetime.fromisoformat("2023-07-01T00:00:00+08:00")  # a Saturday


@pytest.mark.parametrize("expr,first", [
    ("0 9 * * 1", "2023-07-03T09:00:00+08:00"),       # Monday, not APScheduler's Tuesday
    ("0 9 * * 0", "2023-07-02T09:00:00+08:00"),       # Sunday
    ("0 9 * * 7", "2023-07-02T09:00:00+08:00"),       # Sunday too
    ("0 9 * * 1-5", "2023-07-03T09:00:00+08:00"),
    ("0 9 * * 5-7", "2023-07-01T09:00:00+08:00"),   # Fri, Sat, Sun
    ("0 9 * * sat,sun", "2023-07-01T09:00:00+08:00"),
    ("0 9 * * mon-fri", "2023-07-03T09:00:00+08:00"),
    ("0 9 * * */2", "2023-07-01T09:00:00+08:00"),     # Sun, Tue, Thu, Sat
    ("30 6 * * *", "2023-07-01T06:30:00+08:00"),
    ("0 0 2 * *", "2023-07-02T00:00:00+08:00"),
])
def test_cron_weekdays_follow_cron(expr: str, first: str) -> None:
    fire = cron_trigger(expr).get_next_fire_time(None, SAT)
    assert fire is not None and fire.isoformat() == first


def test_cron_trigger_of_schedules() -> None:
    cfg = load_config(DATA / "full.yaml")
    triggers = cfg.schedules.triggers()
    assert set(triggers) == {"columns", "inquiry", "freshness", "privacy", "weekly_report", "inquiry_poll"}
    assert str(triggers["inquiry"].timezone) == "Asia/Shanghai"
    fire = triggers["weekly_report"].get_next_fire_time(None, SAT)
    assert fire is not None and fire.weekday() == 0


@pytest.mark.parametrize("expr", ["0 9 1 * 1", "0 9 * * 8", "0 9 * * funday", "0 9 * * 5-1", "* * * *",
                                  "60 * * * *", "0 24 * * *"])
def test_bad_cron(expr: str) -> None:
    with pytest.raises(CronError):
        cron_trigger(expr)


def test_reference_doc_examples_are_valid(tmp_path: Path) -> None:
    import re

    text = (ROOT / "docs" / "accounts-yaml.md").read_text(encoding="utf-8")
    full, custom = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert check_file(write(tmp_path, full, "full.yaml"), check_env=False) == []
    combined = full.replace("policy: demo-default", "").replace("policies: {}", "") + custom
    assert check_file(write(tmp_path, combined, "custom.yaml"), check_env=False) == []


def test_model_copy_does_not_keep_stale_derived_values(tmp_path: Path) -> None:
    cfg = load_config(DATA / "full.yaml")
    other = cfg.model_copy(update={"policy": "points-local", "store": "sqlite:///other.db"})
    assert other.selected_policy.name == "points-local"
    assert other.store_url == f"sqlite:///{DATA.absolute() / 'other.db'}"
    assert cfg.selected_policy.name == "strict"
