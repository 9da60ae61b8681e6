"""Benchmarks: `tradingfloor bench ...` runs that print figures. They assert nothing."""
