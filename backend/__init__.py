"""Lead scoring for Google Sheets: the backend package."""

__version__ = "0.1.0"
