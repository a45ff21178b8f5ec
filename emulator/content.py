"""Article bodies: filler text, personal data that really is personal data, and decoys that are not."""

from __future__ import annotations

import random
from html import escape

from emulator.scenario import Account, Article, stream

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_AREAS = ("310115", "310104", "110105", "440305", "330106", "320106")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_FILLER = (
    "为进一步提升为民服务水平，推动各项工作落到实处，现将有关事项通知如下。",
    "各部门要高度重视，加强组织领导，压实工作责任，确保各项措施落地见效。",
    "活动现场，工作人员向居民发放宣传资料，并耐心解答群众关心的问题。",
    "下一步，将持续深化改革，优化办事流程，让群众办事更加便捷高效。",
    "请广大居民相互转告，积极配合，共同营造安全、整洁、有序的生活环境。",
    "本次会议总结了上阶段工作情况，部署了下阶段重点任务。",
)


def id_check_digit(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def make_id_card(rng: random.Random) -> str:
    """An 18-digit mainland ID number with a valid check digit."""
    first17 = (rng.choice(_AREAS) + f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
               + f"{rng.randint(0, 999):03d}")
    return first17 + id_check_digit(first17)


def make_mobile(rng: random.Random) -> str:
    return rng.choice(("139", "138", "186", "137", "158", "177")) + f"{rng.randint(0, 99_999_999):08d}"


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def make_bank_card(rng: random.Random) -> str:
    """A 19-digit UnionPay-like card number with a valid Luhn digit."""
    body = rng.choice(("621700", "622202", "622848")) + "".join(str(rng.randint(0, 9)) for _ in range(12))
    return body + luhn_check_digit(body)


def make_uscc(rng: random.Random) -> str:
    """A unified social credit code (GB 32100, valid check character); letters keep it unlike an ID."""
    body = "91" + rng.choice(_AREAS) + "MA1" + "".join(rng.choice(_USCC_ALPHABET) for _ in range(6))
    check = -sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS)) % 31
    return body + _USCC_ALPHABET[check]


def decoy_paragraphs(rng: random.Random) -> list[str]:
    """Numbers that look like personal data but are not."""
    area = rng.choice(("021", "010", "0755", "0571"))
    return [
        f"承办企业：某某物业服务有限公司（统一社会信用代码：{make_uscc(rng)}）。",
        f"如有疑问，请拨打政务服务便民热线12345或咨询电话{area}-{rng.randint(5000_0000, 6999_9999)}。",
        f"根据《关于印发实施方案的通知》（浦府办〔2023〕{rng.randint(1, 60)}号）文件精神，"
        f"邮政编码{rng.choice(('200120', '100020', '518000'))}。",
        f"证件号码已作脱敏处理：{rng.choice(_AREAS)}********{rng.randint(1000, 9999)}。",
    ]


def pii_paragraph(kind: str, rng: random.Random) -> str:
    surname = rng.choice("张王李赵陈刘杨黄周吴")
    if kind == "id_card":
        return f"公示名单：{surname}某某，身份证号码：{make_id_card(rng)}，住址：某某小区。"
    if kind == "mobile":
        return f"联系人：{surname}女士，联系电话：{make_mobile(rng)}。"
    card = make_bank_card(rng)
    spaced = " ".join(card[i:i + 4] for i in range(0, len(card), 4))
    return f"补贴发放对象：{surname}某某，开户银行卡号：{spaced}。"


def article_html(acct: Account, art: Article, seed: int) -> str:
    """The HTML body of an article (what freepublish returns as ``content``)."""
    if art.content is not None:
        return art.content
    rng = stream(seed, acct.id, art.id, "content")
    paragraphs = [rng.choice(_FILLER) for _ in range(3)]
    if art.decoys:
        paragraphs[1:1] = decoy_paragraphs(rng)
    for kind in art.pii:
        paragraphs.insert(rng.randint(1, len(paragraphs)), pii_paragraph(kind, rng))
    for sentence in art.content_errors:
        paragraphs.insert(rng.randint(1, len(paragraphs)), sentence)
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    body += "".join(f'<p><a href="{escape(url)}">点击查看详情</a></p>' for url in art.links)
    return f'<section><h2>{escape(art.title)}</h2>{body}<p style="text-align:right">{escape(acct.unit)}</p></section>'
