"""Allocation: which auditor audits each drawn case under the rules, a service manager's moves and
substitutes, and the notices that tell auditors, practitioners and service managers."""
