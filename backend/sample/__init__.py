"""The bundled sample lead sheet and its generator."""

from pathlib import Path

SAMPLE_CSV = Path(__file__).resolve().parent / "leads.csv"
