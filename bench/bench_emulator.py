"""Emulator speed, as ratios against baselines measured in the same run. Run on demand:

    .venv/bin/python bench/bench_emulator.py

- Building a bulk scenario (``generate_bulk``, 8 columns per account), against building the same
  number of plain dicts holding each account's fields and its two digests: the least any builder
  of such a scenario must do. Validating every account would cost far more ("x baseline" grows).
- Getting away from a hanging page: a client with a 0.3 s read timeout against a page that hangs
  for 5 s, against fetching a page the emulator serves after 0.3 s. About 1x: the client's timeout,
  not the server's hang, decides; a hang the client cannot cut shows as about 17x.

Figures: the best of five runs of each.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from timing import best

from emulator.scenario import generate_bulk, parse_scenario
from emulator.server import EmulatorServer

TIMEOUT_S = 0.3


def plain_accounts(n: int, seed: int) -> list[dict[str, object]]:
    def digest(text: str, length: int) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:length]

    return [{"id": f"bulk-{i:05d}", "name": f"批量账号{i}（模拟）", "unit": f"批量单位{i}（模拟）",
             "category": "政府部门", "appid": f"wx{digest(f'{seed}/bulk-{i:05d}/appid', 16)}",
             "secret": digest(f"{seed}/bulk-{i:05d}/secret", 32), "menu": None, "pages": None}
            for i in range(n)]


def hanging_site() -> EmulatorServer:
    return EmulatorServer(parse_scenario({"seed": 3, "clock": {"start": "2023-07-03T10:00:00+08:00"}, "accounts": [{
        "id": "s1", "name": "测试街道（模拟）", "appid": "wxs1", "secret": "ss1",
        "pages": {"hang": {"kind": "hang", "hang_s": 5}, "slow": {"kind": "slow", "delay_s": TIMEOUT_S}},
    }]}), host="127.0.0.1", port=0).start()


def give_up(client: httpx.Client) -> None:
    try:
        client.get("/site/s1/hang", timeout=TIMEOUT_S)
    except httpx.ReadTimeout:
        return
    raise SystemExit("the hanging page answered")


def main() -> None:
    print(f"{'case':<36}{'s':>10}{'baseline s':>12}{'x baseline':>12}")
    for n in (1_000, 10_000):
        bulk_s = best(lambda: generate_bulk(n, 8, seed=1))  # noqa: B023 - called at once
        base_s = best(lambda: plain_accounts(n, seed=1))  # noqa: B023
        print(f"{f'generate_bulk({n:,} accounts)':<36}{bulk_s:>10.3f}{base_s:>12.3f}{bulk_s / base_s:>12.1f}")
    server = hanging_site()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            client.get("/site/s1/slow")  # connect and warm up
            hang_s = best(lambda: give_up(client))
            base_s = best(lambda: client.get("/site/s1/slow").raise_for_status())
    finally:
        server.stop()
    print(f"{f'hang page, client timeout {TIMEOUT_S} s':<36}{hang_s:>10.3f}{base_s:>12.3f}{hang_s / base_s:>12.1f}")


if __name__ == "__main__":
    main()
