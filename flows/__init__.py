"""Prefect flows, one thin module per flow: typed parameters in, a straight sequence of tasks, a typed summary out;
no rule of its own (rules live in qaloop/, units of retry and observability in tasks/)."""
