"""Remediation: from an audit's failing findings to reviewed, applied and verified configuration fixes."""
