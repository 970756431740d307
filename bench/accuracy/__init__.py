"""Accuracy benchmark: simulate cars with known true charge sessions, turn them into the
telemetry car clouds really deliver (noisy, late, shuffled, with gaps), post it through the
public API and score the sessions chargeledger lists against the truth.

physics.py    charge curves (AC, DC, solar surplus) and exact integration of power
fleet.py      car models and per-car telemetry habits, drawn from a seed
world.py      days, places and behaviour: the timeline of drives and parks of one car
truth.py      the true sessions of a timeline, with their t1..t4 split
telemetry.py  what the car's cloud samples and reports, in the readings API's shape
delivery.py   how the cloud delivers those readings (batches, duplicates, backlogs)
match.py      listed sessions against true ones: the per-session outcomes and metrics
score.py      posting through the API and listing the sessions
report.py     markdown tables of a result file
"""
