"""The platform API client layer: one place for URLs, tokens, quotas and errors."""

from monitor.wechat.client import DEFAULT_API_BASE, AccountAPI, RetryPolicy, WeChatAPI
from monitor.wechat.quota import QuotaBook

__all__ = ["DEFAULT_API_BASE", "AccountAPI", "QuotaBook", "RetryPolicy", "WeChatAPI"]
