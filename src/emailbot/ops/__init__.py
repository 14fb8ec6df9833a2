"""Operations: health, status and system metrics."""
