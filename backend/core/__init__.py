"""The pure core: cells → schema → features → models → scores, metrics and gates.

numpy, pandas, scikit-learn and XGBoost only; no file, network or sheet I/O, no Flask,
no gspread, no plotting (tests/test_architecture.py enforces it).
"""
