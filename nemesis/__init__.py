"""Nemeses: inject faults into a running system and heal them, recording every step."""
