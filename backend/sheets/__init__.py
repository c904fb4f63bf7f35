"""Google Sheets through gspread and google-auth: writing the output columns back safely."""
