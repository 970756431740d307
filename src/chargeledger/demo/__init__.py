"""Demo data: a small fleet with realistic charging habits."""
