"""Drivers: the employees who are reimbursed, what is theirs (cars, home charge points, tags)
and which rate plan prices their charging, each with validity dates."""
