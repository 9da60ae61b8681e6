"""`python -m tradingfloor` is the `tradingfloor` command."""

from tradingfloor.cli import main

main()
