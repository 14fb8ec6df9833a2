"""Analytics: KPIs, performance over periods, patterns, capacity and the monthly report."""
