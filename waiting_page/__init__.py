"""The waiting page: templates, static assets and translations (data only)."""
