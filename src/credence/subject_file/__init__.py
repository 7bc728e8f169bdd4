"""The subject's file (GDPR Art. 15): everything held about one person, as JSON and PDF."""
