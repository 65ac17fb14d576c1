"""consentcam: photo consent for small businesses."""
