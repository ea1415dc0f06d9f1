"""Transmission policies: what leaves the site, in which order, at which quality."""
