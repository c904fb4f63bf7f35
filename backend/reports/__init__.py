"""Reports for people: the self-contained model report (HTML with matplotlib charts)."""
