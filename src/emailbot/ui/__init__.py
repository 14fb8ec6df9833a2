"""The operators' dashboard: server-rendered pages under /ui/, no assets from elsewhere."""
