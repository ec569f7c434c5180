#!/usr/bin/env bash
# optsync in five minutes, on SQLite files: an Optima-shaped company database, an online shop
# database, one pass, the log, and the cron lines for the schedule.
#   bash examples/quickstart.sh [WORKDIR]
set -euo pipefail
work="${1:-$(mktemp -d)}"
export OPTSYNC_HOME="$work/home"
here="$(cd "$(dirname "$0")" && pwd)"

# 1. An Optima configuration database with one company, and that company's database.
python - "$work" <<'PY'
import sys
from pathlib import Path
from optsync.demo.sample import create_company_db, create_config_db
work = Path(sys.argv[1]); work.mkdir(parents=True, exist_ok=True)
create_config_db(f"sqlite:///{work}/CDN_KNF_Konfiguracja.db",
                 [("Sklep Kwiatek Sp. z o.o.", "CDN_Kwiatek", True)],
                 operators=[("ADMIN", "Administrator", False)])
create_company_db(f"sqlite:///{work}/CDN_Kwiatek.db")
PY

# 2. Configure: operator, companies from the configuration database, an e-shop, a schedule.
optsync init
printf '%s\n' 'haslo-operatora' | optsync operator set ADMIN --password-stdin
optsync company discover --config-db "sqlite:///$work/CDN_KNF_Konfiguracja.db"
optsync integration add --company "Sklep Kwiatek Sp. z o.o." --app eshop \
  --endpoint "sqlite:///$work/shop.db" --price-list 1
optsync schedule set --company "Sklep Kwiatek Sp. z o.o." --from 08:00 --to 18:00 \
  --every 15m --days mon-fri

# 3. The shop receives two orders (the simulator writes them into its inbox tables).
python "$here/shop_simulator.py" "sqlite:///$work/shop.db" --orders 2 \
  --optima "sqlite:///$work/CDN_Kwiatek.db"

# 4. One pass: export products, prices and stock; import the orders. Then a second one.
optsync run --company "Sklep Kwiatek Sp. z o.o."
optsync run --company "Sklep Kwiatek Sp. z o.o." --json > "$work/second-pass.json"

# 5. What happened, and what cron would run.
optsync logs --filter sync --limit 10
optsync schedule list
optsync schedule install --crontab "$work/crontab" --dry-run || true
echo "quickstart done in $work"
