"""Statement exports: CSV, XLSX and PDF, written from statement documents one at a time."""
