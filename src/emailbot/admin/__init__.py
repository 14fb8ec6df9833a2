"""Operations: backup and restore, maintenance, data retention, key rotation, incident evidence."""
