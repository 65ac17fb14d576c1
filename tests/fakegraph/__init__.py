"""A fake of Meta's Graph API for publishing tests."""
