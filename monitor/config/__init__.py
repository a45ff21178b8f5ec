"""accounts.yaml: the models, loading with line-accurate errors, the JSON Schema.

Nothing else in wxmon parses accounts.yaml::

    from monitor.config import load_config
    cfg = load_config("accounts.yaml")        # BadInput(problems) when the file is wrong
    cfg.store_url                             # relative SQLite path resolved against cfg.config_dir
    cfg.accounts_by_id["jd-xinhua"]
    cfg.selected_policy                       # monitor.policy.Policy, base merged
    cfg.schedules.trigger("columns")          # APScheduler trigger, cron weekday semantics
"""

from monitor.config.cron import CronError, cron_trigger
from monitor.config.loader import check_file, check_file_warnings, format_path, json_schema, load_config
from monitor.config.models import (
                                   Account,
                                   BridgeChannel,
                                   CalendarExtras,
                                   Channels,
                                   Checks,
                                   Component,
                                   Config,
                                   Contact,
                                   DeclaredColumn,
                                   EmulatorChannel,
                                   Http,
                                   Inquiry,
                                   Schedules,
                                   Smtp,
                                   Supervisor,
                                   Wechat,
)

__all__ = [
    "Account", "BridgeChannel", "CalendarExtras", "Channels", "Checks", "Component", "Config", "Contact", "CronError",
    "DeclaredColumn", "EmulatorChannel", "Http", "Inquiry", "Schedules", "Smtp", "Supervisor", "Wechat",
    "check_file", "check_file_warnings", "cron_trigger", "format_path", "json_schema", "load_config",
]
