"""The phone numbers `GET /dial-in-numbers` lists by default: a realistic fixed set.

`--dial-in-numbers FILE` replaces them (the CLI reads the file)."""

from __future__ import annotations

# The shape of the live list: international numbers without `+`, a locale, the country.
# These are made-up numbers in each country's format, not Vonage's.
DEFAULT_DIAL_IN_NUMBERS: tuple[dict[str, str], ...] = (
    {"number": "541139862166", "locale": "es-AR", "display_name": "Argentina"},
    {"number": "61280114433", "locale": "en-AU", "display_name": "Australia"},
    {"number": "551150395522", "locale": "pt-BR", "display_name": "Brazil"},
    {"number": "16475550147", "locale": "en-CA", "display_name": "Canada"},
    {"number": "33176360188", "locale": "fr-FR", "display_name": "France"},
    {"number": "4930568373920", "locale": "de-DE", "display_name": "Germany"},
    {"number": "97233762211", "locale": "he-IL", "display_name": "Israel"},
    {"number": "390699366401", "locale": "it-IT", "display_name": "Italy"},
    {"number": "34911230456", "locale": "es-ES", "display_name": "Spain"},
    {"number": "442381924626", "locale": "en-GB", "display_name": "United Kingdom"},
    {"number": "17323338801", "locale": "en-US", "display_name": "United States"},
)
