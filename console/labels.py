"""Chinese names of the store's codes, for the pages (the codes stay in the data)."""

from __future__ import annotations

COLUMN_STATUS = {"ok": "正常", "failing": "疑似故障", "broken": "不可用", "unverifiable": "无法核实",
                 "error": "监测异常"}
INQUIRY_STATE = {"scheduled": "待发送", "sent": "已发送待回复", "answered": "按时答复", "late": "超时答复",
                 "unanswered": "未答复", "error": "监测异常"}
CONTENT_SOURCE = {"freepublish": "发布记录接口", "material": "素材接口", "page": "页面", "datacube": "数据统计接口",
                  "feed": "订阅源"}
PRIVACY_TYPE = {"id_card": "身份证号", "mobile": "手机号", "bank_card": "银行卡号"}
EVIDENCE_STAGE = {"sent": "发送截图", "reply": "回复截图"}
ALERT_KIND = {"alert": "告警", "recovery": "恢复", "storm": "批量变化", "outage": "监测中断", "outage_over": "监测恢复"}
ALERT_STATUS = {"pending": "待发送", "sent": "已发送", "failed": "发送失败"}
VERDICT_CLASS = {"合格": "pass", "不合格": "fail"}


def label(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return "—"
    return table.get(code, code)
