"""Scenario files shipped with the emulator (a package so that wheels include them)."""
