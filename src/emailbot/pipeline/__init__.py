"""ingest → parse → classify → route → act → record."""
