"""One module per kind of page: sign-in, citizen portal, reviewer queue, analytics, policy lab."""
