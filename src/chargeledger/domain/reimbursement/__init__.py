"""Reimbursement: from a driver's charge sessions to what they are owed (pure, no I/O).

money: decimals, currencies and rounding; rates: rate plans, caps and the price of a session;
evidence: how a session's energy was measured and which measurement wins; counting: which
sessions count for a driver under the tenant's policy; statements: the statement itself, its
lines and adjustments, and its canonical form and hash.
"""
