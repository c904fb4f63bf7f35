"""Where lead tables come from: files (CSV, XLSX, Parquet) and sheet tabs (sheet://ID/TAB)."""
