"""The statement of account (issue 15): `/statement/`, `/statement.pdf`, `/statement.csv`.

* `period`: the period from the query string (what the contact typed, and its errors);
* `ledger`: reading open items and payments through the gateway, page by page within
  the staff's cap, and the aging per currency (pure, Decimal);
* `files`: the PDF (fpdf2) and the CSV;
* `balance`: the dashboard's balance and aging, the same reading summed, kept per account
  in the cache for `DASHBOARD_BALANCE_TTL` (issue 18);
* `access`: whether the statement is switched on.
The views are in portal/views/statement.py; docs/statement.md says what it shows.
"""
