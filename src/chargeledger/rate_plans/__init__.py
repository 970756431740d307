"""Rate plans: prices per kWh per register over periods of dates, capped by another plan;
imported from CSV."""
