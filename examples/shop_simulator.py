"""A shop simulator: writes new orders into a ``sql`` endpoint's inbox, as a shop would.

    python examples/shop_simulator.py sqlite:///shop.db --orders 5 --optima sqlite:///CDN.db

Product codes come from the Optima company database (``--optima``), else from the shop's
own ``optsync_products`` table (filled by an export). The exchange tables are created when
missing; see the README's "Exchange tables" section for every column.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime

from sqlalchemy import create_engine, inspect, text


def product_codes(url: str, optima: str | None) -> list[str]:
    if optima:
        engine = create_engine(optima)
        schema = None if engine.dialect.name == "sqlite" else "CDN"
        table = "Towary" if schema is None else '"CDN"."Towary"'
        query = f"select Twr_Kod from {table} where Twr_NieAktywny = 0"
    else:
        engine = create_engine(url)
        if not inspect(engine).has_table("optsync_products"):
            sys.exit("no optsync_products yet: run a pass first, or give --optima")
        query = "select code from optsync_products where active = 1 and deleted = 0"
    with engine.connect() as conn:
        codes = [row[0] for row in conn.execute(text(query))]
    engine.dispose()
    return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", help="the shop's database URL (the sql endpoint)")
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument("--optima", help="Optima company database URL, for product codes")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    from optsync.demo.world import shop_orders, write_shop_orders

    codes = product_codes(args.endpoint, args.optima)
    if len(codes) < 4:
        sys.exit("the shop knows fewer than 4 products")
    rng = random.Random(args.seed)
    rng.shuffle(codes)
    start = int(datetime.now().timestamp()) % 100000
    orders = shop_orders(codes, start=start, count=args.orders)
    write_shop_orders(args.endpoint, orders)
    print(f"{len(orders)} orders written: {', '.join(o['external_id'] for o in orders)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
